import type { Logger } from "pino";
import { fitReportData } from "../attester.js";
import { EvidenceFormatError } from "../errors.js";
import { CheckList, type VerificationResult } from "../result.js";
import type { VerifyExpectations } from "../verifier.js";
import { akFingerprint, normalizeFingerprint, parseAkPublic } from "./ak.js";
import { firmwareVersionHex, isSoftwareTpm, parseQuote } from "./attest.js";
import { verifyEkCertificate, type EkRoots, type EkTrust } from "./ek.js";
import { decodeTpmEvidence } from "./evidence.js";
import { computePcrDigest } from "./pcrs.js";
import { parseSignature, verifySignature } from "./signature.js";
import type { CheckOutcome } from "../../protocol/index.js";

export interface TpmVerifierOptions {
  /**
   * SHA-256 fingerprints (hex, colons allowed) of the DER SubjectPublicKeyInfo of every trusted
   * attestation key. A TPM AK has no vendor chain that binds it to hardware, so the operator
   * enrols each AK (`propeller`'s TPM attester prints it). Empty list: every AK is refused.
   */
  trustedAkFingerprints?: readonly string[];
  /**
   * Development only: accept an AK that is not on the list. The check then passes with a warning
   * and the claims say `ak_trusted: false`, so appraisal policy can still refuse it.
   */
  acceptAnyAk?: boolean;
  /** Roots (and intermediates) for the optional EK certificate; unset: an EK cert is not checked. */
  ekRoots?: EkRoots | EkTrust;
  /** Refuse evidence without an EK certificate (requires `ekRoots`). */
  requireEkCert?: boolean;
  logger?: Logger;
}

export interface TpmClaims {
  [key: string]: unknown;
  /** SHA-256 PCR values the quote covers, lower-case hex by PCR index ("0".."23"). Only quoted PCRs. */
  pcrs: Record<string, string>;
  ak_fingerprint: string;
  /** True only when the AK is on the allow-list. */
  ak_trusted: boolean;
  /** TPMS_ATTEST.firmwareVersion, 16 hex digits. */
  firmware_version: string;
  /** The IBM TPM simulator / swtpm firmware version: a software TPM, no hardware protection. */
  software_tpm: boolean;
  clock: { clock: string; reset_count: number; restart_count: number; safe: boolean };
  /** extraData (the nonce / report data the quote is bound to), hex. */
  report_data: string;
  signature_alg: string;
  qualified_signer: string;
  ek_cert?: { subject: string; issuer: string; verified: boolean };
  /** Things appraisal should know although no check failed (e.g. AK accepted without enrolment). */
  warnings: string[];
}

/** extraData lengths seen in the wild: 32 (first half of the SHA-384 hash, KBS-PROTOCOL.md) and
 * 64 (the 48-byte hash zero-padded, what guest-components and the Trustee vector use); 48 raw. */
const NONCE_LENGTHS = new Set([32, 48, 64]);
/** KBS-PROTOCOL.md's TPM field: the first 32 bytes of the SHA-384 report data. */
const TPM_FIELD = 32;

/**
 * Checks that the quote is bound to `expected`. The TPM has two encodings in the wild, so:
 * - `expected` is fitted (zero-padded / truncated) to the length extraData has (32, 48 or 64
 *   bytes; anything else fails). Pass the full 48-byte SHA-384 hash: fitted to 32 it is its first
 *   32 bytes, fitted to 64 the hash plus 16 zero bytes.
 * - A caller that already truncated the expectation to KBS-PROTOCOL.md's 32-byte TPM field cannot
 *   know the rest of the hash; then the first 32 bytes of extraData must equal it (the same
 *   256-bit binding; the attester chooses all of extraData anyway).
 */
export function nonceMatches(extraData: Uint8Array, expected: Uint8Array): CheckOutcome {
  const got = Buffer.from(extraData);
  if (!NONCE_LENGTHS.has(got.byteLength)) {
    return { ok: false, detail: `extraData is ${got.byteLength} bytes; expected 32, 48 or 64` };
  }
  if (expected.byteLength === TPM_FIELD && got.byteLength > TPM_FIELD) {
    const ok = got.subarray(0, TPM_FIELD).equals(Buffer.from(expected));
    return {
      ok,
      detail: ok
        ? `the first 32 bytes of extraData (${got.byteLength} bytes) equal the 32-byte expected report data`
        : `extraData begins ${got.subarray(0, TPM_FIELD).toString("hex")}, not the expected ${Buffer.from(expected).toString("hex")}`,
    };
  }
  const want = fitReportData(expected, got.byteLength);
  const ok = want.equals(got);
  return {
    ok,
    detail: ok
      ? `extraData (${got.byteLength} bytes) equals the expected report data`
      : `extraData ${got.toString("hex")} is not the expected ${want.toString("hex")}`,
  };
}

/**
 * Verifies Trustee-format TPM evidence: parse (throws EvidenceFormatError on malformed input) →
 * AK allow-list, quote signature with the AK, PCR digest recomputed from the PCR values, nonce,
 * optional EK certificate chain. Every check is reported; `ok` only when all pass.
 */
export async function verifyTpmEvidence(
  evidence: unknown,
  expectations: VerifyExpectations,
  options: TpmVerifierOptions = {},
): Promise<VerificationResult<TpmClaims>> {
  // ---- parse: bytes → typed, no crypto ----
  const json = decodeTpmEvidence(evidence);
  const message = Buffer.from(json.tpm_quote.message, "base64");
  const attest = parseQuote(message);
  const signature = parseSignature(Buffer.from(json.tpm_quote.signature, "base64"));
  const ak = parseAkPublic(json.ak_public);
  const sha256 = json.tpm_quote.pcrs.map((h) => Buffer.from(h, "hex"));
  for (const sel of attest.quote.pcrSelect) {
    if (sel.hash !== "sha256" && sel.pcrs.length > 0) {
      // Trustee's format carries only the SHA-256 bank, so other banks cannot be checked.
      throw new EvidenceFormatError(`the quote selects the ${sel.hash} bank; this evidence format carries only sha256 PCR values`);
    }
  }
  const quoted = attest.quote.pcrSelect.flatMap((s) => s.pcrs);
  if (quoted.length === 0) throw new EvidenceFormatError("the quote selects no PCRs");
  const computed = computePcrDigest(attest.quote.pcrSelect, { sha256 }, signature.hashAlg);

  // ---- verify: signatures and bindings, no policy ----
  const checks = new CheckList();
  const warnings: string[] = [];
  const fingerprint = akFingerprint(ak);
  const trusted = new Set((options.trustedAkFingerprints ?? []).map(normalizeFingerprint));
  const akTrusted = trusted.has(fingerprint);
  if (akTrusted) {
    checks.pass("tpm.ak_trusted", `AK ${fingerprint} is on the allow-list`);
  } else if (options.acceptAnyAk === true) {
    warnings.push("ak_not_allow_listed");
    checks.pass("tpm.ak_trusted", `AK ${fingerprint} is NOT on the allow-list; accepted because acceptAnyAk is set (development)`);
  } else {
    checks.fail(
      "tpm.ak_trusted",
      trusted.size === 0
        ? `no trusted AKs are configured, so AK ${fingerprint} is refused`
        : `AK ${fingerprint} is not on the allow-list of ${trusted.size} AK(s)`,
    );
  }

  const sig = verifySignature(signature, message, ak);
  checks.add("tpm.signature", sig.ok, sig.detail);

  const digestOk = computed.equals(attest.quote.pcrDigest);
  checks.add(
    "tpm.pcr_digest",
    digestOk,
    digestOk
      ? `${signature.hash} digest of PCRs ${quoted.join(",")} matches the quote`
      : `PCR values hash to ${computed.toString("hex")}, the quote says ${attest.quote.pcrDigest.toString("hex")}`,
  );

  if (expectations.reportData !== undefined) {
    const nonce = nonceMatches(attest.extraData, expectations.reportData);
    checks.add("tpm.nonce", nonce.ok, nonce.detail);
  } else {
    // Offline inspection only: without a nonce check the quote may be a replay.
    warnings.push("report_data_not_checked");
  }

  let ekClaim: TpmClaims["ek_cert"];
  if (json.ek_cert !== undefined && options.ekRoots) {
    const ek = await verifyEkCertificate(Buffer.from(json.ek_cert, "base64"), options.ekRoots, expectations.now ?? new Date());
    checks.add("tpm.ek_chain", ek.ok, ek.detail);
    ekClaim = { subject: ek.subject, issuer: ek.issuer, verified: ek.ok };
  } else if (options.requireEkCert === true) {
    checks.fail("tpm.ek_chain", options.ekRoots ? "the evidence has no ek_cert, which is required" : "requireEkCert is set but no EK roots are configured");
  } else if (json.ek_cert !== undefined) {
    warnings.push("ek_cert_not_verified");
  }

  const soft = isSoftwareTpm(attest);
  if (soft) warnings.push("software_tpm");

  const pcrs: Record<string, string> = {};
  for (const index of quoted) pcrs[String(index)] = (sha256[index] as Buffer).toString("hex");

  const claims: TpmClaims = {
    pcrs,
    ak_fingerprint: fingerprint,
    ak_trusted: akTrusted,
    firmware_version: firmwareVersionHex(attest.firmwareVersion),
    software_tpm: soft,
    clock: {
      clock: attest.clockInfo.clock.toString(),
      reset_count: attest.clockInfo.resetCount,
      restart_count: attest.clockInfo.restartCount,
      safe: attest.clockInfo.safe,
    },
    report_data: attest.extraData.toString("hex"),
    signature_alg: `${signature.sigAlg}/${signature.hash}`,
    qualified_signer: attest.qualifiedSigner.toString("hex"),
    warnings,
  };
  if (ekClaim) claims.ek_cert = ekClaim;
  const result = checks.result("tpm", claims);
  options.logger?.debug(
    { tee: "tpm", ok: result.ok, failures: checks.failures.map((c) => c.name), ak: fingerprint, softwareTpm: soft },
    "tpm evidence verified",
  );
  return result;
}
