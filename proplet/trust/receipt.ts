/**
 * Receipts of results (docs/receipts.md). Every result answering a `task.start` carries one:
 * - an attested run (confidential, the key released by the KBS) is signed by the attested receipt
 *   key, the one bound into the KBS runtime data, with the EAR token it was released under;
 * - anything else (plain runs, and runs that failed or were stopped before a key was released) is
 *   signed by the proplet's in-memory identity key and says `attested: false`.
 * The receipt is signed over the result exactly as sent: call this after the outputs were cut to
 * fit the MQTT payload (results are never altered after signing).
 */
import { buildReceiptClaims, signReceipt, type ReceiptSigner } from "../../protocol/receipt/index.js";
import type { Digest, TaskStart, TeeType } from "../../protocol/index.js";
import type { ResultBody } from "../lease/results.js";

/** What a run's receipt says about the workload and who signs it. */
export interface ReceiptBasis {
  signer: ReceiptSigner;
  /** Digest of the Wasm that ran (the decrypted bytes for a confidential run). */
  plaintextDigest: Digest | string;
  /** Digest of the delivered ciphertext (confidential runs), else null. */
  ciphertextDigest: Digest | string | null;
  attestation: { tee: TeeType; earToken: string } | null;
}

export type ReceiptStart = Pick<TaskStart, "taskId" | "runId" | "propletId" | "receiptNonce" | "entrypoint" | "args" | "env" | "stdin" | "grants">;

/** Returns the body with its `receipt` (a compact JWS over the body's own fields). */
export async function withReceipt(start: ReceiptStart, body: ResultBody, basis: ReceiptBasis): Promise<ResultBody> {
  const { receipt: _old, ...unsigned } = body;
  const claims = buildReceiptClaims(start, unsigned, {
    plaintextDigest: basis.plaintextDigest,
    ciphertextDigest: basis.ciphertextDigest,
    attestation: basis.attestation,
  });
  return { ...unsigned, receipt: await signReceipt(claims, basis.signer) };
}
