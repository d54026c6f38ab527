import type { Digest } from "../digest.js";
import type { TaskResult, TaskStart } from "../messages/task.js";
import type { ReceiptClaims } from "./claims.js";
import { inputDigest, receiptOutput } from "./digests.js";
import type { ReceiptExpectations } from "./verify.js";

/** The parts of a result that a receipt covers (a `task.result` without its envelope and receipt). */
export type ReceiptResult = Pick<
  TaskResult,
  "outcome" | "stdout" | "stderr" | "stdoutTruncated" | "stderrTruncated" | "exitCode" | "returnValues" | "returnWave" | "error" | "startedAt" | "finishedAt"
>;

export interface ReceiptContext {
  /** Digest of the Wasm that ran (after decryption for confidential runs). */
  plaintextDigest: Digest | string;
  /** Digest of the delivered ciphertext, for confidential runs. */
  ciphertextDigest?: Digest | string | null;
  /** Attested runs: the TEE and the EAR token under which the key was released. */
  attestation?: { tee: NonNullable<ReceiptClaims["tee"]>; earToken: string } | null;
}

/** What the proplet signs for one run: everything is derived from the start message and the result. */
export function buildReceiptClaims(start: Pick<TaskStart, "taskId" | "runId" | "propletId" | "receiptNonce" | "entrypoint" | "args" | "env" | "stdin" | "grants">, result: ReceiptResult, context: ReceiptContext): ReceiptClaims {
  return {
    receiptVersion: 1,
    taskId: start.taskId,
    runId: start.runId,
    nonce: start.receiptNonce,
    propletId: start.propletId,
    tee: context.attestation?.tee ?? null,
    attested: context.attestation != null,
    workload: { plaintext: context.plaintextDigest, ciphertext: context.ciphertextDigest ?? null },
    inputDigest: inputDigest(start),
    output: receiptOutput(result),
    outcome: result.outcome,
    startedAt: result.startedAt,
    finishedAt: result.finishedAt,
    earToken: context.attestation?.earToken ?? null,
    iat: Math.floor(Date.now() / 1000),
  };
}

/**
 * What a manager expects of the receipt of a run: it knows what it dispatched (`start`) and what
 * came back (`result`) on which proplet's topic. Callers add `jwks` (attested tasks),
 * `propletKey` / `allowUnattested` (plain tasks) and `tee`.
 */
export function expectationsForRun(start: Pick<TaskStart, "taskId" | "runId" | "propletId" | "receiptNonce" | "entrypoint" | "args" | "env" | "stdin" | "grants">, result: ReceiptResult, workloadDigest: Digest | string): ReceiptExpectations {
  return {
    taskId: start.taskId,
    runId: start.runId,
    nonce: start.receiptNonce,
    propletId: start.propletId,
    inputDigest: inputDigest(start),
    output: receiptOutput(result),
    workloadDigest,
  };
}
