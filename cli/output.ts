import type { RunView, TaskView } from "./manager-client.js";

export interface Output {
  out(text: string): void;
  err(text: string): void;
}

export const consoleOutput: Output = {
  out: (text) => void process.stdout.write(text.endsWith("\n") ? text : `${text}\n`),
  err: (text) => void process.stderr.write(text.endsWith("\n") ? text : `${text}\n`),
};

export function describeRun(run: RunView | null): string {
  if (!run) return "no run yet";
  const r = run.result;
  const parts = [`run ${run.id} ${run.state}`];
  if (run.propletId) parts.push(`on ${run.propletId}`);
  if (r?.exitCode !== null && r?.exitCode !== undefined) parts.push(`exit code ${r.exitCode}`);
  if (r?.returnValues) parts.push(`returned [${r.returnValues.join(", ")}]`);
  if (r?.error) parts.push(`error ${r.error.code}: ${r.error.message}`);
  return parts.join(", ");
}

export function taskLine(task: TaskView): string {
  const reason = task.pendingReason ? ` (${task.pendingReason})` : "";
  return `${task.id}  ${task.state.padEnd(9)}  ${task.name}${reason}`;
}
