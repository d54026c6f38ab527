import { createPublicKey, verify as cryptoVerify, type KeyObject } from "node:crypto";
import type { Logger } from "pino";
import { fitReportData } from "../attester.js";
import { EvidenceFormatError } from "../errors.js";
import { CheckList, type VerificationResult } from "../result.js";
import type { AmdProduct } from "../roots/amd/index.js";
import { bundledAmdRoots, parseVek, verifyAmdChain, type AmdRoots, type ChainCache, type VekInfo } from "./certs.js";
import { formatTcb, parseSnpReport, type SnpReport, type SnpTcb } from "./report.js";
import { commonName, readCertificates, x509 } from "./x509.js";
import { parseAmdCrl, type AmdCrl } from "./crl.js";
import { messageOf } from "../../lib/errors.js";
import type { CheckOutcome } from "../../protocol/index.js";

/** Certificates as PEM text (one or several), DER bytes, or already parsed. */
export type CertInput = string | Uint8Array | x509.X509Certificate;

export interface SnpVerifyOptions {
  /**
   * The VCEK or VLEK that signed the report (DER or PEM). A PEM bundle may carry the chain after the
   * leaf (VEK, ASK, ARK: the layout of Azure's and KDS's files); the extra certificates are used as
   * `chain`.
   */
  vek?: CertInput;
  /** Alias of `vek` (the CLI's `--cert`). */
  vcek?: CertInput;
  /** ASK/ASVK and ARK as supplied with the evidence. Only a chain to a pinned ARK is trusted. */
  chains?: CertInput | readonly CertInput[];
  /** Pinned roots per product; defaults to attestation/roots/amd. */
  roots?: AmdRoots;
  /** Clock for certificate validity. Defaults to now. */
  now?: Date;
  /** Expected REPORT_DATA (fitted to 64 bytes). Unset: not checked. */
  reportData?: Uint8Array;
  /** Expected HOST_DATA (fitted to 32 bytes). Unset: not checked. */
  hostData?: Uint8Array;
  /** Certificate signature cache (pass one per process; see ChainCache). */
  cache?: ChainCache;
  /**
   * AMD KDS CRLs (DER or PEM, or parsed), e.g. `/vcek/v1/Milan/crl`. Given: the ARK's CRL is checked
   * (`snp.crl.signature|validity|revocation`). Unset: no revocation check, as before.
   */
  crls?: readonly (Uint8Array | string | AmdCrl)[];
  logger?: Logger;
}

export interface SnpTcbClaim {
  bootloader: number;
  tee: number;
  snp: number;
  microcode: number;
  fmc?: number;
  /** The raw 64-bit TCB_VERSION, 16 hex digits. */
  raw: string;
}

/** What a verified report says, as JSON: hex strings, numbers, booleans. Appraisal reads only these. */
export interface SnpClaims {
  [key: string]: unknown;
  report_version: number;
  /** "Milan" | "Genoa" | "Turin", from CPUID (v3+) or the VEK's productName; null if unknown. */
  product: AmdProduct | null;
  signing_key: "vcek" | "vlek" | "none";
  guest_svn: number;
  policy: {
    raw: string;
    abi_major: number;
    abi_minor: number;
    smt_allowed: boolean;
    migrate_ma_allowed: boolean;
    debug_allowed: boolean;
    single_socket_required: boolean;
    cxl_allowed: boolean;
    mem_aes_256_xts: boolean;
    rapl_disabled: boolean;
    ciphertext_hiding: boolean;
    page_swap_disabled: boolean;
  };
  family_id: string;
  image_id: string;
  vmpl: number;
  measurement: string;
  host_data: string;
  id_key_digest: string;
  author_key_digest: string;
  report_data: string;
  report_id: string;
  report_id_ma: string;
  chip_id: string;
  current_tcb: SnpTcbClaim;
  reported_tcb: SnpTcbClaim;
  committed_tcb: SnpTcbClaim;
  launch_tcb: SnpTcbClaim;
  platform_info: {
    raw: string;
    smt_enabled: boolean;
    tsme_enabled: boolean;
    ecc_enabled: boolean;
    rapl_disabled: boolean;
    ciphertext_hiding_enabled: boolean;
    alias_check_complete: boolean;
    tio_enabled: boolean;
  };
  author_key_en: boolean;
  mask_chip_key: boolean;
  /** "major.minor.build" of the running and committed SNP firmware. */
  current_firmware: string;
  committed_firmware: string;
  cpuid?: { family: number; model: number; stepping: number };
  launch_mit_vector?: string;
  current_mit_vector?: string;
  /** From the VEK certificate, when one was read. */
  vek?: { product_name: string; csp_id?: string; fingerprint: string };
}

const tcbClaim = (t: SnpTcb): SnpTcbClaim => {
  const out: SnpTcbClaim = { bootloader: t.bootloader, tee: t.tee, snp: t.snp, microcode: t.microcode, raw: t.raw };
  if (t.fmc !== undefined) out.fmc = t.fmc;
  return out;
};

/** Claims from a parsed report (no verification implied: the result's `ok` says that). */
export function snpClaims(report: SnpReport, vek?: VekInfo): SnpClaims {
  const p = report.policy;
  const pi = report.platformInfo;
  const claims: SnpClaims = {
    report_version: report.version,
    product: report.product ?? vek?.product ?? null,
    signing_key: report.signerInfo.signingKey,
    guest_svn: report.guestSvn,
    policy: {
      raw: p.raw,
      abi_major: p.abiMajor,
      abi_minor: p.abiMinor,
      smt_allowed: p.smt,
      migrate_ma_allowed: p.migrateMa,
      debug_allowed: p.debug,
      single_socket_required: p.singleSocket,
      cxl_allowed: p.cxlAllowed,
      mem_aes_256_xts: p.memAes256Xts,
      rapl_disabled: p.raplDis,
      ciphertext_hiding: p.ciphertextHiding,
      page_swap_disabled: p.pageSwapDisable,
    },
    family_id: report.familyId.toString("hex"),
    image_id: report.imageId.toString("hex"),
    vmpl: report.vmpl,
    measurement: report.measurement.toString("hex"),
    host_data: report.hostData.toString("hex"),
    id_key_digest: report.idKeyDigest.toString("hex"),
    author_key_digest: report.authorKeyDigest.toString("hex"),
    report_data: report.reportData.toString("hex"),
    report_id: report.reportId.toString("hex"),
    report_id_ma: report.reportIdMa.toString("hex"),
    chip_id: report.chipId.toString("hex"),
    current_tcb: tcbClaim(report.currentTcb),
    reported_tcb: tcbClaim(report.reportedTcb),
    committed_tcb: tcbClaim(report.committedTcb),
    launch_tcb: tcbClaim(report.launchTcb),
    platform_info: {
      raw: pi.raw,
      smt_enabled: pi.smtEnabled,
      tsme_enabled: pi.tsmeEnabled,
      ecc_enabled: pi.eccEnabled,
      rapl_disabled: pi.raplDisabled,
      ciphertext_hiding_enabled: pi.ciphertextHidingEnabled,
      alias_check_complete: pi.aliasCheckComplete,
      tio_enabled: pi.tioEnabled,
    },
    author_key_en: report.signerInfo.authorKeyEn,
    mask_chip_key: report.signerInfo.maskChipKey,
    current_firmware: `${report.currentVersion.major}.${report.currentVersion.minor}.${report.currentVersion.build}`,
    committed_firmware: `${report.committedVersion.major}.${report.committedVersion.minor}.${report.committedVersion.build}`,
  };
  if (report.cpuid) claims.cpuid = { ...report.cpuid };
  if (report.launchMitVector !== undefined) claims.launch_mit_vector = report.launchMitVector;
  if (report.currentMitVector !== undefined) claims.current_mit_vector = report.currentMitVector;
  if (vek) {
    claims.vek = { product_name: vek.productName, fingerprint: vek.fingerprint };
    if (vek.cspId !== undefined) claims.vek.csp_id = vek.cspId;
  }
  return claims;
}

function toCerts(input: CertInput | readonly CertInput[] | undefined): x509.X509Certificate[] {
  if (input === undefined) return [];
  const list: readonly CertInput[] = Array.isArray(input) ? (input as readonly CertInput[]) : [input as CertInput];
  return list.flatMap((c) => (c instanceof x509.X509Certificate ? [c] : readCertificates(c)));
}

/** Verifies the report's ECDSA P-384/SHA-384 signature over bytes [0, 0x2A0) with the VEK's key. */
/** KeyObjects of certificates already seen (a parsed VEK passed again skips the SPKI import). */
const vekKeys = new WeakMap<x509.X509Certificate, KeyObject>();

export function verifyReportSignature(report: SnpReport, vek: x509.X509Certificate): CheckOutcome {
  try {
    let key = vekKeys.get(vek);
    if (!key) {
      key = createPublicKey({ key: Buffer.from(vek.publicKey.rawData), format: "der", type: "spki" });
      vekKeys.set(vek, key);
    }
    const sig = Buffer.concat([report.signature.r, report.signature.s]);
    const ok = cryptoVerify("sha384", report.signedBytes, { key, dsaEncoding: "ieee-p1363" }, sig);
    return { ok, detail: ok ? "ECDSA P-384/SHA-384 signature over bytes 0x000-0x29F is valid" : "the report signature does not verify with the VEK" };
  } catch (err) {
    return { ok: false, detail: `the report signature could not be checked: ${messageOf(err)}` };
  }
}

function tcbMatches(vek: VekInfo, tcb: SnpTcb): CheckOutcome {
  const s = vek.spls;
  const diffs: string[] = [];
  if (s.bootloader !== tcb.bootloader) diffs.push(`bootloader ${s.bootloader} ≠ ${tcb.bootloader}`);
  if (s.tee !== tcb.tee) diffs.push(`tee ${s.tee} ≠ ${tcb.tee}`);
  if (s.snp !== tcb.snp) diffs.push(`snp ${s.snp} ≠ ${tcb.snp}`);
  if (s.microcode !== tcb.microcode) diffs.push(`microcode ${s.microcode} ≠ ${tcb.microcode}`);
  if (tcb.fmc !== undefined && s.fmc !== tcb.fmc) diffs.push(`fmc ${s.fmc ?? "absent"} ≠ ${tcb.fmc}`);
  return diffs.length === 0
    ? { ok: true, detail: `VEK SPLs equal REPORTED_TCB ${formatTcb(tcb)}` }
    : { ok: false, detail: `VEK SPLs differ from REPORTED_TCB ${formatTcb(tcb)}: ${diffs.join(", ")}` };
}

function chipIdMatches(vek: VekInfo, report: SnpReport, product: AmdProduct): CheckOutcome {
  if (vek.kind === "vlek") return { ok: true, detail: "VLEK: not bound to one chip, CHIP_ID not compared" };
  const hwId = vek.hwId as Buffer;
  if (report.signerInfo.maskChipKey) return { ok: false, detail: "MASK_CHIP_KEY is set, yet the report claims a VCEK signature" };
  if (hwId.byteLength === 8 && product !== "Turin") return { ok: false, detail: `an 8-byte hwID is a Turin VCEK's, but the product is ${product}` };
  // A Turin VCEK carries the 8-byte hwID KDS indexes it by; older ones the full 64-byte CHIP_ID.
  const reported = hwId.byteLength === 8 ? report.chipId.subarray(0, 8) : report.chipId;
  const ok = reported.equals(hwId);
  return ok
    ? { ok, detail: `VCEK hwID equals CHIP_ID ${report.chipId.toString("hex").slice(0, 16)}…` }
    : { ok, detail: `VCEK hwID ${hwId.toString("hex").slice(0, 16)}… is not CHIP_ID ${report.chipId.toString("hex").slice(0, 16)}…` };
}

/**
 * Verifies a parsed report: VEK kind, product, chain to the pinned ARK, validity windows, report
 * signature, VEK SPLs = REPORTED_TCB, hwID = CHIP_ID (VCEK), and REPORT_DATA / HOST_DATA when
 * expected. No policy (debug, VMPL, minimum TCB: see appraise.ts). Never throws for a failed
 * check; throws EvidenceFormatError only for unreadable certificate input.
 */
export async function verifyParsedSnpReport(report: SnpReport, options: SnpVerifyOptions = {}): Promise<VerificationResult<SnpClaims>> {
  const checks = new CheckList();
  const now = options.now ?? new Date();
  const roots = options.roots ?? bundledAmdRoots();

  // Leaf and chain: the first certificate of `vek` is the leaf; the rest join the chain.
  const leafInput = options.vek ?? options.vcek;
  const supplied = toCerts(leafInput);
  const chain = [...supplied.slice(1), ...toCerts(options.chains)];
  let vek: VekInfo | undefined;
  const leaf = supplied[0];
  if (!leaf) {
    checks.fail("snp.vek", "no VCEK or VLEK certificate was supplied with the evidence or the request");
  } else {
    try {
      vek = parseVek(leaf);
    } catch (err) {
      if (!(err instanceof EvidenceFormatError)) throw err;
      checks.fail("snp.vek", `the endorsement key certificate is not a usable VCEK/VLEK: ${err.message}`);
    }
  }
  if (vek) {
    const wanted = report.signerInfo.signingKey;
    if (wanted !== vek.kind) {
      checks.fail("snp.vek", `the report says it is signed by ${wanted.toUpperCase()}, the certificate is a ${vek.kind.toUpperCase()}`);
    } else {
      checks.pass("snp.vek", `${vek.kind.toUpperCase()} ${vek.productName}, SPLs ${formatTcb(vek.spls)}${vek.cspId ? `, ${vek.cspId}` : ""}`);
    }
  }

  // Product: CPUID (v3+) and the VEK's productName must agree; it selects the pinned roots.
  let product: AmdProduct | undefined;
  if (vek) {
    if (!vek.product) {
      checks.fail("snp.product", `unknown product name ${JSON.stringify(vek.productName)} in the ${vek.kind.toUpperCase()}`);
    } else if (report.cpuid && !report.product) {
      checks.fail("snp.product", `CPUID family 0x${report.cpuid.family.toString(16)} model 0x${report.cpuid.model.toString(16)} is not a known SEV-SNP product`);
    } else if (report.product && report.product !== vek.product) {
      checks.fail("snp.product", `the report's CPUID says ${report.product}, the ${vek.kind.toUpperCase()} says ${vek.productName}`);
    } else {
      product = vek.product;
      checks.pass("snp.product", report.product ? `${product} (CPUID and certificate agree)` : `${product} (from the certificate; v${report.version} reports carry no CPUID)`);
    }
  }

  if (vek && product) {
    const ark = chain.find((c) => commonName(c)?.startsWith("ARK-"));
    const ask = chain.find((c) => {
      const cn = commonName(c);
      return cn !== undefined && cn.startsWith("SEV-") && cn !== "SEV-VCEK" && cn !== "SEV-VLEK" && (vek.kind === "vlek") === cn.startsWith("SEV-VLEK-");
    });
    const input: Parameters<typeof verifyAmdChain>[0] = { vek, product, roots, now };
    if (ark) input.ark = ark;
    if (ask) input.ask = ask;
    if (options.cache) input.cache = options.cache;
    if (options.crls && options.crls.length > 0) {
      input.crls = options.crls.map((c, i) => (typeof c === "string" || c instanceof Uint8Array ? parseAmdCrl(c, `CRL ${i + 1}`) : c));
    }
    await verifyAmdChain(input, checks);

    const sig = verifyReportSignature(report, vek.cert);
    checks.add("snp.signature", sig.ok, sig.detail);
    const tcb = tcbMatches(vek, report.reportedTcb);
    checks.add("snp.tcb", tcb.ok, tcb.detail);
    const chip = chipIdMatches(vek, report, product);
    checks.add("snp.chip_id", chip.ok, chip.detail);
  } else {
    checks.fail("snp.signature", "not checked: no usable endorsement key");
  }

  if (options.reportData !== undefined) {
    const want = fitReportData(options.reportData, 64);
    const ok = want.equals(report.reportData);
    checks.add("snp.report_data", ok, ok ? "REPORT_DATA equals the expected value" : `REPORT_DATA ${report.reportData.toString("hex")} is not the expected ${want.toString("hex")}`);
  }
  if (options.hostData !== undefined) {
    const want = fitReportData(options.hostData, 32);
    const ok = want.equals(report.hostData);
    checks.add("snp.host_data", ok, ok ? "HOST_DATA equals the expected value" : `HOST_DATA ${report.hostData.toString("hex")} is not the expected ${want.toString("hex")}`);
  }

  const result = checks.result("snp", snpClaims(report, vek));
  options.logger?.debug({ tee: "snp", ok: result.ok, failures: checks.failures.map((c) => c.name), product: product ?? null }, "snp report verified");
  return result;
}

/**
 * The byte-level API (what `propeller attestation verify --tee snp` uses): parse the 1184-byte
 * report (throws EvidenceFormatError when malformed), then verify it.
 */
export async function verifySnpReport(reportBytes: Uint8Array, options: SnpVerifyOptions = {}): Promise<VerificationResult<SnpClaims>> {
  return verifyParsedSnpReport(parseSnpReport(reportBytes), options);
}
