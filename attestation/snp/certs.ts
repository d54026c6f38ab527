import * as asn1js from "asn1js";
import { EvidenceFormatError } from "../errors.js";
import type { CheckList } from "../result.js";
import { AMD_PRODUCTS, AMD_ROOT_PEMS, type AmdProduct } from "../roots/amd/index.js";
import { certFingerprint, commonName, readCertificate, x509 } from "./x509.js";
import { messageOf } from "../../lib/errors.js";
import { BoundedMap } from "../../lib/bounded-map.js";
import { checkAmdCrls, type AmdCrl } from "./crl.js";
import type { CheckOutcome } from "../../protocol/index.js";

/**
 * AMD's KDS certificate profile (AMD "Versioned Chip Endorsement Key (VCEK) Certificate and KDS
 * Interface Specification", 57230): VCEK/VLEK extensions and the ARK → ASK/ASVK → VCEK/VLEK chain.
 */

const AMD_ARC = "1.3.6.1.4.1.3704.1";
export const AMD_OID = {
  structVersion: `${AMD_ARC}.1`,
  productName: `${AMD_ARC}.2`,
  blSpl: `${AMD_ARC}.3.1`,
  teeSpl: `${AMD_ARC}.3.2`,
  snpSpl: `${AMD_ARC}.3.3`,
  ucodeSpl: `${AMD_ARC}.3.8`,
  fmcSpl: `${AMD_ARC}.3.9`,
  hwId: `${AMD_ARC}.4`,
  cspId: `${AMD_ARC}.5`,
} as const;

export type VekKind = "vcek" | "vlek";

export interface VekSpls {
  bootloader: number;
  tee: number;
  snp: number;
  microcode: number;
  /** Turin and later. */
  fmc?: number;
}

export interface VekInfo {
  cert: x509.X509Certificate;
  kind: VekKind;
  /** productName extension as written, e.g. "Milan-B0", "Genoa", "Turin-B0". */
  productName: string;
  /** Product line: the part before the stepping. Undefined for a name we do not know. */
  product?: AmdProduct;
  spls: VekSpls;
  /** VCEK only: the chip's hardware ID (64 bytes; 8 for Turin). */
  hwId?: Buffer;
  /** VLEK only: the cloud provider the key was issued to. */
  cspId?: string;
  structVersion?: number;
  fingerprint: string;
}

function extensionValue(cert: x509.X509Certificate, oid: string): Buffer | undefined {
  const matches = cert.extensions.filter((e) => e.type === oid);
  if (matches.length > 1) throw new EvidenceFormatError(`certificate has ${matches.length} extensions ${oid}`);
  const ext = matches[0];
  return ext ? Buffer.from(ext.value) : undefined;
}

/** One decoded DER element: its tag, and the content bytes of a primitive one. */
interface DerNode {
  universal: boolean;
  tag: number;
  constructed: boolean;
  /** The content octets (meaningful for a primitive element). */
  value: Buffer;
}

const ASN1_UNIVERSAL = 1;
const ASN1_INTEGER = 2;
const ASN1_OCTET_STRING = 4;

/** DER decoding through asn1js (@peculiar/x509's own ASN.1 layer), strict: one element, no trailing bytes. */
function derDecode(value: Buffer, what: string): DerNode {
  let decoded: ReturnType<typeof asn1js.fromBER>;
  try {
    decoded = asn1js.fromBER(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
  } catch (err) {
    throw new EvidenceFormatError(`${what}: not DER (${messageOf(err)})`);
  }
  if (decoded.offset === -1) throw new EvidenceFormatError(`${what}: not DER (${decoded.result.error || "unparseable"})`);
  if (decoded.offset !== value.byteLength) throw new EvidenceFormatError(`${what}: not DER (Unparsed DER bytes remain after ASN.1 parsing.)`);
  const { idBlock, lenBlock } = decoded.result;
  if (lenBlock.isIndefiniteForm) throw new EvidenceFormatError(`${what}: not DER (indefinite length)`);
  return {
    universal: idBlock.tagClass === ASN1_UNIVERSAL,
    tag: idBlock.tagNumber,
    constructed: idBlock.isConstructed,
    value: Buffer.from(value.subarray(idBlock.blockLength + lenBlock.blockLength)),
  };
}

/** An SPL is a DER INTEGER 0..255 (AMD writes e.g. 02 01 44 or 02 02 00 D9). */
function splValue(cert: x509.X509Certificate, oid: string, what: string): number | undefined {
  const value = extensionValue(cert, oid);
  if (!value) return undefined;
  const node = derDecode(value, what);
  if (!node.universal || node.tag !== ASN1_INTEGER || node.constructed) {
    throw new EvidenceFormatError(`${what}: not an INTEGER`);
  }
  const n = Number.parseInt(node.value.toString("hex") || "0", 16);
  if (!Number.isInteger(n) || n < 0 || n > 255 || ((node.value[0] ?? 0) & 0x80) !== 0) {
    throw new EvidenceFormatError(`${what}: ${n} is not an SPL (0..255)`);
  }
  return n;
}

function stringValue(cert: x509.X509Certificate, oid: string, what: string): string | undefined {
  const value = extensionValue(cert, oid);
  if (!value) return undefined;
  const node = derDecode(value, what);
  if (!node.universal || node.constructed) {
    throw new EvidenceFormatError(`${what}: not a string`);
  }
  return node.value.toString("utf8");
}

/**
 * hwID: historically the raw 64 bytes as the extension value; newer certificates wrap it in a DER
 * OCTET STRING. Both are accepted (as Trustee does); anything else is malformed.
 */
function hwIdValue(cert: x509.X509Certificate): Buffer | undefined {
  const value = extensionValue(cert, AMD_OID.hwId);
  if (!value) return undefined;
  if (value.byteLength === 64 || value.byteLength === 8) return value;
  const node = derDecode(value, "hwID extension");
  if (!node.universal || node.tag !== ASN1_OCTET_STRING || node.constructed) {
    throw new EvidenceFormatError("hwID extension: neither 64 raw bytes nor an OCTET STRING");
  }
  const id = node.value;
  if (id.byteLength !== 64 && id.byteLength !== 8) throw new EvidenceFormatError(`hwID is ${id.byteLength} bytes, expected 64 (or 8 for Turin)`);
  return id;
}

/** "Milan-B0" → Milan; "Genoa" → Genoa. */
export function productLine(productName: string): AmdProduct | undefined {
  const line = productName.split("-")[0];
  return AMD_PRODUCTS.find((p) => p === line);
}

/**
 * Reads a VCEK or VLEK: its kind (subject CN SEV-VCEK / SEV-VLEK), product name, SPLs, hwID (VCEK)
 * and cspID (VLEK). No signature is checked here. Throws EvidenceFormatError when the certificate
 * is not a VEK or an AMD extension is malformed or missing.
 */
export function parseVek(input: string | Uint8Array | x509.X509Certificate): VekInfo {
  const cert = input instanceof x509.X509Certificate ? input : readCertificate(input);
  const cn = commonName(cert);
  let kind: VekKind;
  if (cn === "SEV-VCEK") kind = "vcek";
  else if (cn === "SEV-VLEK") kind = "vlek";
  else throw new EvidenceFormatError(`certificate CN ${JSON.stringify(cn)} is neither SEV-VCEK nor SEV-VLEK`);
  const productName = stringValue(cert, AMD_OID.productName, "productName extension");
  if (productName === undefined) throw new EvidenceFormatError(`${kind.toUpperCase()} has no productName extension`);
  const need = (oid: string, what: string): number => {
    const v = splValue(cert, oid, what);
    if (v === undefined) throw new EvidenceFormatError(`${kind.toUpperCase()} has no ${what} extension`);
    return v;
  };
  const spls: VekSpls = {
    bootloader: need(AMD_OID.blSpl, "blSPL"),
    tee: need(AMD_OID.teeSpl, "teeSPL"),
    snp: need(AMD_OID.snpSpl, "snpSPL"),
    microcode: need(AMD_OID.ucodeSpl, "ucodeSPL"),
  };
  const fmc = splValue(cert, AMD_OID.fmcSpl, "fmcSPL");
  if (fmc !== undefined) spls.fmc = fmc;
  const info: VekInfo = { cert, kind, productName, spls, fingerprint: certFingerprint(cert) };
  const product = productLine(productName);
  if (product) info.product = product;
  const structVersion = splValue(cert, AMD_OID.structVersion, "structVersion");
  if (structVersion !== undefined) info.structVersion = structVersion;
  if (kind === "vcek") {
    const hwId = hwIdValue(cert);
    if (!hwId) throw new EvidenceFormatError("VCEK has no hwID extension");
    info.hwId = hwId;
  } else {
    const csp = stringValue(cert, AMD_OID.cspId, "cspID extension");
    if (csp !== undefined) info.cspId = csp;
  }
  return info;
}

// ---------------------------------------------------------------------------------------------
// Trust anchors

/** The pinned certificates of one product line. */
export interface AmdRootSet {
  ark: x509.X509Certificate;
  ask: x509.X509Certificate;
  asvk: x509.X509Certificate;
}
export type AmdRoots = Partial<Record<AmdProduct, AmdRootSet>>;

let bundled: AmdRoots | undefined;

/** The roots shipped in attestation/roots/amd (parsed once). */
export function bundledAmdRoots(): AmdRoots {
  if (!bundled) {
    const out: AmdRoots = {};
    for (const p of AMD_PRODUCTS) {
      const pems = AMD_ROOT_PEMS[p];
      out[p] = { ark: readCertificate(pems.ark), ask: readCertificate(pems.ask), asvk: readCertificate(pems.asvk) };
    }
    bundled = out;
  }
  return bundled;
}

// ---------------------------------------------------------------------------------------------
// Signature cache

/**
 * Remembers certificate signature results by (issuer fingerprint, subject fingerprint), so a
 * verifier that sees the same VCEK again (every attestation from one host) skips the RSA-4096
 * verifications. Bounded: the least recently used entry is dropped past `max`. Validity windows
 * are never cached (they depend on the clock).
 */
export class ChainCache {
  private readonly entries: BoundedMap<string, boolean>;
  constructor(readonly max = 512) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError("ChainCache max must be a positive integer");
    this.entries = new BoundedMap({ maxEntries: max, lru: true });
  }
  get(key: string): boolean | undefined {
    return this.entries.get(key);
  }
  set(key: string, value: boolean): void {
    this.entries.set(key, value);
  }
  get size(): number {
    return this.entries.size;
  }
}

/** RSASSA-PSS, SHA-384, salt 48: the only algorithm AMD signs its chain with. */
function isAmdPss(cert: x509.X509Certificate): boolean {
  const alg = cert.signatureAlgorithm as { name?: string; hash?: { name?: string }; saltLength?: number };
  return alg.name === "RSA-PSS" && alg.hash?.name === "SHA-384" && alg.saltLength === 48;
}

async function signedBy(subject: x509.X509Certificate, issuer: x509.X509Certificate, cache: ChainCache | undefined): Promise<boolean> {
  const key = `${certFingerprint(issuer)}>${certFingerprint(subject)}`;
  const hit = cache?.get(key);
  if (hit !== undefined) return hit;
  let ok = false;
  if (isAmdPss(subject)) {
    try {
      ok = await subject.verify({ publicKey: issuer, signatureOnly: true });
    } catch {
      ok = false;
    }
  }
  cache?.set(key, ok);
  return ok;
}

function validity(cert: x509.X509Certificate, now: Date): CheckOutcome {
  const window = `${cert.notBefore.toISOString()} → ${cert.notAfter.toISOString()}`;
  if (now < cert.notBefore) return { ok: false, detail: `not yet valid at ${now.toISOString()} (valid ${window})` };
  if (now > cert.notAfter) return { ok: false, detail: `expired at ${now.toISOString()} (valid ${window})` };
  return { ok: true, detail: `valid at ${now.toISOString()} (${window})` };
}

export interface AmdChainInput {
  vek: VekInfo;
  product: AmdProduct;
  /** ASK (VCEK) or ASVK (VLEK) from the evidence; defaults to the pinned one. */
  ask?: x509.X509Certificate;
  /** ARK from the evidence; it must be the pinned one. */
  ark?: x509.X509Certificate;
  roots: AmdRoots;
  now: Date;
  cache?: ChainCache;
  /** KDS CRLs; when given, the ARK's must be valid and must not revoke the ASK/ASVK (`snp.crl.*`). */
  crls?: readonly AmdCrl[];
}

/**
 * Verifies ARK → ASK/ASVK → VEK against the pinned roots of `product`, adding checks
 * `snp.chain.ark`, `snp.chain.ask`, `snp.chain.vek` (signatures, names, algorithms) and
 * `snp.validity.ark|ask|vek` (windows at `now`), and `snp.crl.*` when CRLs are given. Returns true when all of them passed.
 */
export async function verifyAmdChain(input: AmdChainInput, checks: CheckList): Promise<boolean> {
  const { vek, product, roots, now, cache } = input;
  const pinned = roots[product];
  if (!pinned) {
    checks.fail("snp.chain.ark", `no pinned AMD roots for product ${product}`);
    return false;
  }
  let ok = true;
  const intermediateRole = vek.kind === "vcek" ? "ASK" : "ASVK";
  const expectedAskCn = vek.kind === "vcek" ? `SEV-${product}` : `SEV-VLEK-${product}`;

  // ARK: the evidence may carry one, but only the pinned ARK is trusted.
  const ark = input.ark ?? pinned.ark;
  const arkFp = certFingerprint(ark);
  const pinnedArkFp = certFingerprint(pinned.ark);
  if (arkFp !== pinnedArkFp) {
    ok = checks.fail("snp.chain.ark", `the ARK supplied (${commonName(ark) ?? "?"}, sha256 ${arkFp}) is not the pinned ARK-${product} (sha256 ${pinnedArkFp})`) && ok;
  } else if (!(await signedBy(ark, ark, cache))) {
    ok = checks.fail("snp.chain.ark", `ARK-${product} is not validly self-signed with RSASSA-PSS/SHA-384`) && ok;
  } else {
    checks.pass("snp.chain.ark", `pinned ARK-${product} (sha256 ${arkFp}), self-signature valid`);
  }

  const ask = input.ask ?? (vek.kind === "vcek" ? pinned.ask : pinned.asvk);
  const askCn = commonName(ask);
  if (askCn !== expectedAskCn) {
    ok = checks.fail("snp.chain.ask", `${intermediateRole} CN is ${JSON.stringify(askCn)}, expected ${expectedAskCn}`) && ok;
  } else if (ask.issuer !== pinned.ark.subject) {
    ok = checks.fail("snp.chain.ask", `${intermediateRole} issuer "${ask.issuer}" is not ARK-${product}`) && ok;
  } else if (!(await signedBy(ask, pinned.ark, cache))) {
    ok = checks.fail("snp.chain.ask", `${askCn} is not signed by the pinned ARK-${product}`) && ok;
  } else {
    checks.pass("snp.chain.ask", `${askCn} signed by ARK-${product}${input.ask ? " (from the evidence)" : " (pinned)"}`);
  }

  const vekName = vek.kind.toUpperCase();
  const spki = vek.cert.publicKey.algorithm as { name?: string; namedCurve?: string };
  if (spki.name !== "ECDSA" || spki.namedCurve !== "P-384") {
    ok = checks.fail("snp.chain.vek", `${vekName} key is ${spki.name}/${spki.namedCurve ?? "?"}, expected ECDSA P-384`) && ok;
  } else if (vek.cert.issuer !== ask.subject) {
    ok = checks.fail("snp.chain.vek", `${vekName} issuer "${vek.cert.issuer}" is not ${askCn ?? intermediateRole}`) && ok;
  } else if (!(await signedBy(vek.cert, ask, cache))) {
    ok = checks.fail("snp.chain.vek", `${vekName} (${vek.productName}) signature does not verify with ${askCn ?? intermediateRole}`) && ok;
  } else {
    checks.pass("snp.chain.vek", `${vekName} (${vek.productName}) signed by ${askCn}`);
  }

  for (const [role, cert] of [["ark", ark], ["ask", ask], ["vek", vek.cert]] as const) {
    const v = validity(cert, now);
    const label = role === "vek" ? vekName : role === "ask" ? intermediateRole : "ARK";
    ok = checks.add(`snp.validity.${role}`, v.ok, `${label} ${v.detail}`) && ok;
  }
  if (input.crls && input.crls.length > 0) {
    ok = (await checkAmdCrls(input.crls, { product, ark: pinned.ark, ask, askRole: intermediateRole, now }, checks)) && ok;
  }
  return ok;
}
