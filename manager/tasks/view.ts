/** Records → the REST representations (docs/api.md). */
import { secretEnvNames } from "./secrets.js";
import type { Proplet, Run, Task } from "../../protocol/api/index.js";
import type { PropletRecord, RunRecord, TaskRecord } from "./model.js";
import { isActiveRun } from "./state.js";

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function runView(run: RunRecord, endpoint?: string | null): Run {
  const r = run.result;
  return {
    id: run.id,
    taskId: run.taskId,
    attempt: run.attempt,
    state: run.state,
    propletId: run.propletId,
    deliveries: run.deliveries,
    createdAt: run.createdAt.toISOString(),
    dispatchedAt: iso(run.dispatchedAt),
    acceptedAt: iso(run.acceptedAt),
    startedAt: iso(run.startedAt),
    finishedAt: iso(run.finishedAt),
    result: r
      ? {
          exitCode: r.exitCode,
          returnValues: r.returnValues,
          ...(r.returnWave !== undefined ? { returnWave: r.returnWave } : {}),
          // UTF-8 text for people (invalid sequences become U+FFFD); the base64 fields are exact.
          stdout: Buffer.from(r.stdout, "base64").toString("utf8"),
          stderr: Buffer.from(r.stderr, "base64").toString("utf8"),
          stdoutBase64: r.stdout,
          stderrBase64: r.stderr,
          stdoutTruncated: r.stdoutTruncated,
          stderrTruncated: r.stderrTruncated,
          error: r.error,
        }
      : null,
    receipt: run.receipt,
    receiptCheck: run.receiptCheck,
    // A daemon's URL only while its run is active: a stopped run serves nothing, even before the
    // proplet's final result (which forgets the URL) has arrived.
    ...(endpoint && isActiveRun(run.state) ? { endpoint } : {}),
  };
}

export function taskView(task: TaskRecord, latestRun: RunRecord | null, endpoints?: ReadonlyMap<string, string>): Task {
  const s = task.spec;
  return {
    id: task.id,
    name: task.name,
    state: task.state,
    runtime: s.runtime,
    artifact: { digest: s.artifact.digest, size: s.artifact.size, location: s.artifact.location, ...(s.artifact.url ? { url: s.artifact.url } : {}), ...(s.artifact.reference ? { reference: s.artifact.reference } : {}) },
    entrypoint: s.entrypoint,
    args: s.args,
    env: s.env,
    secretEnvNames: secretEnvNames(s),
    stdin: s.stdin,
    limits: s.limits,
    target: s.target,
    requirements: s.requirements,
    onPropletLoss: s.onPropletLoss,
    priority: s.priority ?? 50,
    retry: s.retry ?? null,
    broadcast: s.broadcast ?? false,
    schedule: s.schedule ?? null,
    encrypted: Boolean(s.confidential),
    confidential: s.confidential ?? null,
    grants: s.grants ?? null,
    pendingReason: task.pendingReason,
    createdAt: task.createdAt.toISOString(),
    updatedAt: task.updatedAt.toISOString(),
    latestRun: latestRun ? runView(latestRun, endpoints?.get(latestRun.id)) : null,
  };
}

export function propletView(p: PropletRecord, running: number): Proplet {
  return {
    id: p.id,
    name: p.name,
    alive: p.alive,
    capabilities: p.capabilities,
    running,
    lastSeenAt: p.lastSeenAt.toISOString(),
    connectedAt: p.connectedAt.toISOString(),
  };
}
