import type { ChildProcess } from "node:child_process";
import { messageOf } from "./errors.js";

/**
 * The stop steps of a process's parts, run in reverse order of start (the last started stops
 * first), each once, a failing step logged and not stopping the others. `close` is idempotent:
 * concurrent and later calls share the first run. Used where several services start in one
 * process (the manager, the embedded stack), so a failure half-way through start-up stops what
 * already started.
 */
export class Supervisor {
  private readonly steps: Array<() => Promise<unknown>> = [];
  private closing: Promise<void> | undefined;

  constructor(private readonly onStepError: (message: string, err: unknown) => void = () => undefined) {}

  /** Registers how to stop something that has just started. */
  add(stop: () => Promise<unknown>): void {
    this.steps.push(stop);
  }

  /** Stops everything registered so far, newest first. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const step of this.steps.splice(0).reverse()) {
        try {
          await step();
        } catch (err) {
          this.onStepError(messageOf(err), err);
        }
      }
    })();
    return this.closing;
  }

  /** Runs `start` (which registers its stop steps); if it throws, stops what it started and rethrows. */
  async start<T>(start: (supervisor: this) => Promise<T>): Promise<T> {
    try {
      return await start(this);
    } catch (err) {
      await this.close();
      throw err;
    }
  }
}

/** Stops a child process: SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
export async function stopChildProcess(proc: ChildProcess | undefined, graceMs = 3000): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}
