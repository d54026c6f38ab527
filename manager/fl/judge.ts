/**
 * The verdict on one participant's run of a round: still pending, accepted (with the parsed
 * update), rejected (a bad update: shape, NaN/Inf, size, replay, non-participant, receipt), or
 * missing (the run failed or was lost: a dropout). Pure: the caller reads the run and records.
 */
import { decodeJwt } from "jose";
import { parseHeld, parseUpdate, updateDigest, type FlHeld, type FlUpdate } from "../../protocol/index.js";
import type { RunRecord } from "../tasks/model.js";

export type Verdict =
  | { state: "pending" }
  | { state: "accepted"; update: FlUpdate; digest: string; attested: boolean }
  /** Secure aggregation: the proplet holds the update; its report (the run's stdout) names the update's digest. */
  | { state: "held"; held: FlHeld; digest: string; attested: boolean }
  | { state: "rejected" | "missing"; reason: string; digest?: string; attested?: boolean };

export interface RoundExpectation {
  round: number;
  baseModel: string;
  shape: readonly number[];
  /** Attested experiment: the receipt must be attested. */
  attested: boolean;
  /** The proplet this participant's run was pinned to. */
  propletId: string;
  /** Secure aggregation: the run's stdout must be a held-update report, never the update. */
  held?: boolean;
}

const ACTIVE = new Set(["queued", "scheduled", "running"]);

export function judgeRun(run: RunRecord | null, expect: RoundExpectation): Verdict {
  if (!run || ACTIVE.has(run.state)) return { state: "pending" };
  const error = run.result?.error;
  if (run.state !== "completed") {
    if (error?.code === "receipt_invalid") return { state: "rejected", reason: `receipt_invalid: ${error.message}` };
    return { state: "missing", reason: `run_${run.state}: ${error ? `${error.code}: ${error.message}` : `the run ${run.state}`}` };
  }
  if (run.propletId !== expect.propletId) return { state: "rejected", reason: `update_non_participant: the update came from ${String(run.propletId)}, not the participant ${expect.propletId}` };
  const stdout = Buffer.from(run.result?.stdout ?? "", "base64");
  const digest = updateDigest(stdout);
  const check = run.receiptCheck;
  const attested = check?.attested ?? false;
  if (!check || !check.ok || !run.receipt) return { state: "rejected", reason: `receipt_invalid: ${check?.reason || "the run has no valid receipt"}`, digest, attested };
  if (expect.attested && !attested) return { state: "rejected", reason: "receipt_unattested: the experiment requires attested participants and this run's receipt is not attested", digest, attested };
  // The receipt was checked when the result arrived; the update used now must be the bytes it names.
  const named = receiptStdout(run.receipt);
  if (named !== digest) return { state: "rejected", reason: `receipt_mismatch: the receipt names output ${String(named)}, the stored update is ${digest}`, digest, attested };
  if (run.result?.stdoutTruncated) return { state: "rejected", reason: "update_oversized: the update was truncated at the run's output limit", digest, attested };
  if (run.result?.exitCode !== 0) return { state: "missing", reason: `run_failed: the training client exited with ${String(run.result?.exitCode)}`, digest, attested };
  if (expect.held) {
    const held = parseHeld(stdout);
    if (!held.ok) return { state: "rejected", reason: `${held.code}: ${held.reason}`, digest, attested };
    return { state: "held", held: held.value, digest, attested };
  }
  const parsed = parseUpdate(stdout, expect);
  if (!parsed.ok) return { state: "rejected", reason: `${parsed.code}: ${parsed.reason}`, digest, attested };
  return { state: "accepted", update: parsed.value, digest, attested };
}

function receiptStdout(jws: string): string | null {
  try {
    const claims = decodeJwt(jws) as { output?: { stdout?: unknown } };
    return typeof claims.output?.stdout === "string" ? claims.output.stdout : null;
  } catch {
    return null;
  }
}
