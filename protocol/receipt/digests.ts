import { sha256Digest, type Digest } from "../digest.js";
import { canonicalJson } from "../jcs.js";
import type { Entrypoint, Grants, TaskResult } from "../messages/task.js";
import type { ReceiptOutput } from "./claims.js";

export interface RunInput {
  entrypoint: Entrypoint;
  args: string[];
  env: Record<string, string>;
  /** base64, as in `task.start` */
  stdin: string;
  /** Directories and hosts granted to the run (absent: none). */
  grants?: Grants | null | undefined;
}

/**
 * Digest of what a run was given: sha256 over the RFC 8785 JSON of {entrypoint, args, env, stdin},
 * plus `grants` when the run was granted directories or hosts (what it could reach is part of what
 * it was given). Without grants the digest is the same as before grants existed.
 */
export function inputDigest(input: RunInput): Digest {
  return sha256Digest(
    canonicalJson({ entrypoint: input.entrypoint, args: input.args, env: input.env, stdin: input.stdin, ...(input.grants ? { grants: input.grants } : {}) }),
  );
}

/** The output part of a receipt, computed from a `task.result`'s fields. */
export function receiptOutput(
  result: Pick<TaskResult, "stdout" | "stderr" | "stdoutTruncated" | "stderrTruncated" | "exitCode" | "returnValues" | "error" | "returnWave">,
): ReceiptOutput {
  return {
    stdout: sha256Digest(Buffer.from(result.stdout, "base64")),
    stderr: sha256Digest(Buffer.from(result.stderr, "base64")),
    stdoutTruncated: result.stdoutTruncated,
    stderrTruncated: result.stderrTruncated,
    exitCode: result.exitCode,
    returnValues: result.returnValues,
    errorCode: result.error?.code ?? null,
    // A component export's result (WAVE text) is output too; absent for core modules and commands.
    ...(result.returnWave !== undefined ? { returnWave: sha256Digest(Buffer.from(result.returnWave, "utf8")) } : {}),
  };
}
