import { canonicalSha384 } from "../../protocol/jcs.js";

/**
 * The object whose JCS SHA-384 the evidence must carry: the runtime data exactly as the client sent
 * it, plus `additional-evidence` (KBS-PROTOCOL.md). A stock client sends only nonce and tee-pubkey,
 * so this is identical to what Trustee hashes; our proplets bind more (receipt-pubkey, proplet id).
 */
export function runtimeDataHash(runtimeData: Record<string, unknown>, additionalEvidence: string): Buffer {
  return canonicalSha384({ ...runtimeData, "additional-evidence": additionalEvidence });
}

