import { createHash, constants, verify as cryptoVerify } from "node:crypto";
import type { Logger } from "pino";
import { EvidenceFormatError } from "../errors.js";
import { CheckList, type VerificationResult } from "../result.js";
import type { AmdRoots, ChainCache } from "../snp/certs.js";
import { parseSnpReport } from "../snp/report.js";
import { verifyParsedSnpReport, type SnpClaims, type SnpVerifyOptions } from "../snp/verify.js";
import { TPM_ALG } from "../tpm/alg.js";
import { parseQuote } from "../tpm/attest.js";
import { computePcrDigest } from "../tpm/pcrs.js";
import { nonceMatches } from "../tpm/verify.js";
import type { VerifyExpectations } from "../verifier.js";
import { decodeAzSnpVtpmEvidence } from "./evidence.js";
import { parseHclReport } from "./hcl.js";
import type { CheckOutcome } from "../../protocol/index.js";

export interface AzSnpVtpmVerifyOptions {
  roots?: AmdRoots;
  cache?: ChainCache;
  logger?: Logger;
}

export interface AzSnpVtpmClaims {
  [key: string]: unknown;
  /** 0 (legacy), 1 or 2. */
  evidence_version: number;
  /** The SNP report's claims (the same shape the snp verifier returns). */
  snp: SnpClaims;
  tpm: {
    /** SHA-256 PCR values the quote covers, hex, by index ("0".."23"). */
    pcrs: Record<string, string>;
    /** extraData of the quote (the nonce), hex. */
    nonce: string;
    firmware_version: string;
    /** SHA-256 of the HCLAkPub SubjectPublicKeyInfo (DER), hex. */
    ak_fingerprint: string;
  };
  hcl: {
    /** hash(var_data), hex; equals REPORT_DATA's first bytes when `az.var_data` passed. */
    var_data_digest: string;
    user_data?: string;
    vm_configuration?: Record<string, unknown>;
  };
}

/** extraData: exactly the expected bytes (Trustee, e.g. "challenge"), or the fitted report data. */
function nonceCheck(extraData: Buffer, expected: Uint8Array): CheckOutcome {
  if (extraData.equals(Buffer.from(expected))) return { ok: true, detail: `extraData (${extraData.byteLength} bytes) equals the expected report data` };
  return nonceMatches(extraData, expected);
}

/**
 * Verifies Azure SEV-SNP vTPM evidence, every check reported:
 *  - the SNP report inside the HCL report (all `snp.*` checks of the snp verifier, VCEK from the evidence);
 *  - `az.var_data`: REPORT_DATA starts with hash(var_data), so HCLAkPub and user-data are the VM's;
 *  - `az.tpm.signature`: the quote is signed by HCLAkPub (RSASSA-PKCS1-v1_5, SHA-256);
 *  - `az.tpm.pcr_digest`: the PCR values hash to the quote's pcrDigest;
 *  - `az.tpm.nonce`: extraData is the expected report data (when expected);
 *  - `az.user_data` (v2): var_data user-data starts with the expected report data.
 * No policy (VMPL, debug, measurements): see SnpAppraisalPolicy, applied by AzSnpVtpmVerifier.
 */
export async function verifyAzSnpVtpmEvidence(
  evidence: unknown,
  expectations: VerifyExpectations,
  options: AzSnpVtpmVerifyOptions = {},
): Promise<VerificationResult<AzSnpVtpmClaims>> {
  // ---- parse ----
  const ev = decodeAzSnpVtpmEvidence(evidence);
  const hcl = parseHclReport(ev.hclReport);
  const report = parseSnpReport(hcl.snpReport);
  const attest = parseQuote(ev.quoteMessage);
  for (const sel of attest.quote.pcrSelect) {
    if (sel.hash !== "sha256" && sel.pcrs.length > 0) throw new EvidenceFormatError(`the quote selects the ${sel.hash} bank; the evidence carries only SHA-256 PCRs`);
  }
  const quoted = attest.quote.pcrSelect.flatMap((s) => s.pcrs);
  if (quoted.length === 0) throw new EvidenceFormatError("the quote selects no PCRs");
  // Azure's vTPM quotes SHA-256 PCRs and signs with SHA-256, so the digest is SHA-256.
  const computed = computePcrDigest(attest.quote.pcrSelect, { sha256: ev.pcrs }, TPM_ALG.SHA256);

  // ---- verify: the SNP report ----
  const snpOptions: SnpVerifyOptions = { vek: ev.vcek };
  if (expectations.now) snpOptions.now = expectations.now;
  if (options.roots) snpOptions.roots = options.roots;
  if (options.cache) snpOptions.cache = options.cache;
  const snp = await verifyParsedSnpReport(report, snpOptions);
  const checks = new CheckList();
  for (const c of snp.checks) checks.add(c.name, c.ok, c.detail);

  // ---- verify: the HCL var_data binding ----
  const prefix = report.reportData.subarray(0, hcl.varDataDigest.byteLength);
  const bound = prefix.equals(hcl.varDataDigest);
  checks.add(
    "az.var_data",
    bound,
    bound
      ? `REPORT_DATA[0..${hcl.varDataDigest.byteLength}] = ${hcl.varDataHash}(var_data) ${hcl.varDataDigest.toString("hex")}`
      : `REPORT_DATA starts with ${prefix.toString("hex")}, ${hcl.varDataHash}(var_data) is ${hcl.varDataDigest.toString("hex")}`,
  );

  // ---- verify: the TPM quote ----
  let sigOk = false;
  try {
    sigOk = cryptoVerify("sha256", ev.quoteMessage, { key: hcl.akPub, padding: constants.RSA_PKCS1_PADDING }, ev.quoteSignature);
  } catch {
    sigOk = false;
  }
  checks.add(
    "az.tpm.signature",
    sigOk,
    sigOk ? `quote signed by HCLAkPub (RSASSA-PKCS1-v1_5/SHA-256, RSA-${hcl.akPub.asymmetricKeyDetails?.modulusLength})` : "the quote signature does not verify with HCLAkPub",
  );
  const digestOk = computed.equals(attest.quote.pcrDigest);
  checks.add(
    "az.tpm.pcr_digest",
    digestOk,
    digestOk ? `SHA-256 digest of PCRs ${quoted.join(",")} matches the quote` : `PCR values hash to ${computed.toString("hex")}, the quote says ${attest.quote.pcrDigest.toString("hex")}`,
  );
  if (expectations.reportData !== undefined) {
    const n = nonceCheck(attest.extraData, expectations.reportData);
    checks.add("az.tpm.nonce", n.ok, n.detail);
    if (ev.version >= 2) {
      const want = Buffer.from(expectations.reportData);
      const ud = hcl.userData;
      const ok = ud !== undefined && ud.byteLength >= want.byteLength && ud.subarray(0, want.byteLength).equals(want);
      checks.add("az.user_data", ok, ok ? "var_data user-data starts with the expected report data" : ud ? `user-data ${ud.toString("hex")} does not start with ${want.toString("hex")}` : "v2 evidence without user-data");
    }
  }

  const pcrs: Record<string, string> = {};
  for (const i of quoted) pcrs[String(i)] = (ev.pcrs[i] as Buffer).toString("hex");
  const claims: AzSnpVtpmClaims = {
    evidence_version: ev.version,
    snp: snp.claims,
    tpm: {
      pcrs,
      nonce: attest.extraData.toString("hex"),
      firmware_version: attest.firmwareVersion.toString(16).padStart(16, "0"),
      ak_fingerprint: createHash("sha256").update(hcl.akPub.export({ format: "der", type: "spki" })).digest("hex"),
    },
    hcl: { var_data_digest: hcl.varDataDigest.toString("hex") },
  };
  if (hcl.userData) claims.hcl.user_data = hcl.userData.toString("hex");
  if (hcl.vmConfiguration) claims.hcl.vm_configuration = hcl.vmConfiguration;
  const result = checks.result("az-snp-vtpm", claims);
  options.logger?.debug({ tee: "az-snp-vtpm", ok: result.ok, failures: checks.failures.map((c) => c.name), version: ev.version }, "az-snp-vtpm evidence verified");
  return result;
}
