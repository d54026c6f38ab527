import { sha256Digest, type Digest } from "../digest.js";
import { canonicalJson } from "../jcs.js";
import type { Entrypoint, TaskResult } from "../messages/task.js";
import type { ReceiptOutput } from "./claims.js";

export interface RunInput {
  entrypoint: Entrypoint;
  args: string[];
  env: Record<string, string>;
  /** base64, as in `task.start` */
  stdin: string;
}

/** Digest of what a run was given: sha256 over the RFC 8785 JSON of {entrypoint, args, env, stdin}. */
export function inputDigest(input: RunInput): Digest {
  return sha256Digest(canonicalJson({ entrypoint: input.entrypoint, args: input.args, env: input.env, stdin: input.stdin }));
}

/** The output part of a receipt, computed from a `task.result`'s fields. */
export function receiptOutput(
  result: Pick<TaskResult, "stdout" | "stderr" | "stdoutTruncated" | "stderrTruncated" | "exitCode" | "returnValues" | "error">,
): ReceiptOutput {
  return {
    stdout: sha256Digest(Buffer.from(result.stdout, "base64")),
    stderr: sha256Digest(Buffer.from(result.stderr, "base64")),
    stdoutTruncated: result.stdoutTruncated,
    stderrTruncated: result.stderrTruncated,
    exitCode: result.exitCode,
    returnValues: result.returnValues,
    errorCode: result.error?.code ?? null,
  };
}
