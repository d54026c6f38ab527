import { decodeJwt, decodeProtectedHeader, type JWK } from "jose";
import {
  expectationsForRun,
  verifyReceipt,
  type ReceiptResult,
  type ReceiptVerification,
} from "../../protocol/receipt/index.js";
import type { ConfidentialSpec, TaskStart } from "../../protocol/index.js";
import type { JwksCache } from "./jwks-cache.js";
import { messageOf } from "../../lib/errors.js";

export interface ReceiptCheckInput {
  /** The compact JWS the proplet sent with its result (undefined: none was sent). */
  receipt: string | undefined;
  /** What the manager dispatched for this run (the fields a receipt covers). */
  start: Pick<TaskStart, "taskId" | "runId" | "propletId" | "receiptNonce" | "entrypoint" | "args" | "env" | "stdin">;
  /** The result as received (before it is stored). */
  result: ReceiptResult;
  /** Digest of the artifact dispatched (the ciphertext for confidential tasks). */
  artifactDigest: string;
  confidential: ConfidentialSpec | undefined;
  /** The identity key the proplet announced, if any. */
  propletIdentityKey: JWK | undefined;
}

export interface ReceiptCheck {
  ok: boolean;
  /** Names and reasons of the failed checks, for the run's error message. */
  reason: string;
  verification: ReceiptVerification | null;
}

/**
 * The manager's receipt rule (docs/receipts.md, "What the manager adds"): every result must carry a
 * receipt over exactly what was dispatched and received; a confidential task's receipt must be
 * attested by a token of the task's KBS for the task's TEE; a plain task's receipt must be signed
 * by the identity key the proplet announced.
 */
export async function checkReceipt(input: ReceiptCheckInput, jwksCache: JwksCache): Promise<ReceiptCheck> {
  if (!input.receipt) return { ok: false, reason: "the result carries no receipt", verification: null };
  const base = expectationsForRun(input.start, input.result, input.confidential ? input.confidential.plaintextDigest : input.artifactDigest);
  let verification: ReceiptVerification;
  if (input.confidential) {
    let jwks;
    try {
      jwks = await jwksCache.get(input.confidential.kbsUrl, tokenKid(input.receipt));
    } catch (err) {
      return { ok: false, reason: `receipt not checked: ${messageOf(err)}`, verification: null };
    }
    verification = await verifyReceipt(input.receipt, { ...base, jwks, tee: input.confidential.tee });
    if (verification.claims && verification.claims.workload.ciphertext !== input.artifactDigest) {
      verification.checks.push({ name: "expect.ciphertext", ok: false, detail: `the receipt names ciphertext ${verification.claims.workload.ciphertext}, but ${input.artifactDigest} was dispatched` });
      verification.ok = false;
    }
  } else {
    if (!input.propletIdentityKey) return { ok: false, reason: "the proplet announced no identity key, so its receipt cannot be checked", verification: null };
    verification = await verifyReceipt(input.receipt, { ...base, allowUnattested: true, propletKey: input.propletIdentityKey });
  }
  const failed = verification.checks.filter((c) => !c.ok);
  return {
    ok: verification.ok,
    reason: verification.ok ? "" : `receipt rejected: ${failed.map((c) => `${c.name} (${c.detail})`).join("; ")}`,
    verification,
  };
}

/** The `kid` of the EAR token inside a receipt, so a rotated KBS key triggers a JWKS refetch. */
function tokenKid(receipt: string): string | undefined {
  try {
    const claims = decodeJwt(receipt) as { earToken?: unknown };
    return typeof claims.earToken === "string" ? decodeProtectedHeader(claims.earToken).kid : undefined;
  } catch {
    return undefined;
  }
}
