import type { ChildProcess } from "node:child_process";

/** Stops a child process: SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
export async function stopProcess(proc: ChildProcess | undefined, graceMs = 3000): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}
