import type { Run, Task } from "../protocol/api/index.js";

export interface Output {
  out(text: string): void;
  err(text: string): void;
  /** Bytes as they are, no newline added (a workload's live output); out/err when absent. */
  raw?(stream: "stdout" | "stderr", data: Uint8Array): void;
}

export const consoleOutput: Output = {
  out: (text) => void process.stdout.write(text.endsWith("\n") ? text : `${text}\n`),
  err: (text) => void process.stderr.write(text.endsWith("\n") ? text : `${text}\n`),
  raw: (stream, data) => void (stream === "stdout" ? process.stdout : process.stderr).write(data),
};

export function describeRun(run: Run | null): string {
  if (!run) return "no run yet";
  const r = run.result;
  const parts = [`run ${run.id} ${run.state}`];
  if (run.propletId) parts.push(`on ${run.propletId}`);
  if (r?.exitCode !== null && r?.exitCode !== undefined) parts.push(`exit code ${r.exitCode}`);
  if (r?.returnValues) parts.push(`returned [${r.returnValues.join(", ")}]`);
  if (r?.returnWave !== undefined) parts.push(`returned ${r.returnWave === "" ? "(nothing)" : r.returnWave}`);
  if (run.endpoint) parts.push(`serving at ${run.endpoint}`);
  if (r?.error) parts.push(`error ${r.error.code}: ${r.error.message}`);
  return parts.join(", ");
}

export function taskLine(task: Task): string {
  const reason = task.pendingReason ? ` (${task.pendingReason})` : "";
  return `${task.id}  ${task.state.padEnd(9)}  ${task.name}${reason}`;
}

/** The task's scheduling fields, where present: `priority 80, retry 3 attempts (backoff 500 ms), cron "…" (UTC, missed skip), broadcast`. */
export function describeScheduling(task: Task): string {
  const parts: string[] = [];
  if (typeof task.priority === "number") parts.push(`priority ${task.priority}`);
  const retry = task.retry;
  if (retry) parts.push(`retry ${retry.maxAttempts} attempts (backoff ${retry.backoffMs} ms, at most ${retry.maxBackoffMs} ms)`);
  const schedule = task.schedule;
  if (schedule) parts.push(`cron "${schedule.cron}" (${schedule.timeZone}, missed ${schedule.missed})`);
  if (task.broadcast === true) parts.push("broadcast");
  return parts.join(", ");
}
