import { canonicalSha384 } from "../../protocol/jcs.js";
import { fitReportData } from "../../attestation/index.js";

/**
 * The object whose JCS SHA-384 the evidence must carry: the runtime data exactly as the client sent
 * it, plus `additional-evidence` (KBS-PROTOCOL.md). A stock client sends only nonce and tee-pubkey,
 * so this is identical to what Trustee hashes; our proplets bind more (receipt-pubkey, proplet id).
 */
export function runtimeDataHash(runtimeData: Record<string, unknown>, additionalEvidence: string): Buffer {
  return canonicalSha384({ ...runtimeData, "additional-evidence": additionalEvidence });
}

/**
 * What each verifier is told to expect in the evidence's user-data field: 64 bytes (zero-padded)
 * for SNP, TDX, SGX, CCA; the 48-byte hash for TPM (its verifier fits it to the quote's extraData,
 * 32 bytes for our attester, 64 for guest-components') and for the sample TEE, whose
 * `report_data` is the base64 of those 48 bytes; the vTPM-based TEEs bind through their TPM quote.
 */
export function expectedReportData(tee: string, hash: Buffer): Buffer {
  switch (tee) {
    case "snp":
    case "tdx":
    case "sgx":
    case "cca":
      return fitReportData(hash, 64);
    default:
      return Buffer.from(hash);
  }
}
