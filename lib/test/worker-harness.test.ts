import { describe, expect, it } from "vitest";
import { WorkerCrashError, runInWorker, workerEntry, type WorkerJob } from "../worker-harness.js";

const ENTRY = workerEntry(import.meta.url, "fixtures/harness-worker");

type End = { how: "message"; value: unknown } | { how: "timeout" } | { how: "aborted"; reason: unknown } | { how: "crash"; error: WorkerCrashError };

/** Runs the fixture with `plan`, counting every callback the harness makes. */
function run(plan: unknown, extra: Partial<WorkerJob<unknown, End>> = {}) {
  const calls = { message: 0, timeout: 0, abort: 0, crash: 0, settled: 0 };
  const result = runInWorker<unknown, End>({
    entry: ENTRY,
    workerData: plan,
    resourceLimits: { maxOldGenerationSizeMb: 32 },
    onMessage: (value, r) => {
      calls.message++;
      r.settle({ how: "message", value });
    },
    onTimeout: () => (calls.timeout++, { how: "timeout" }),
    onAbort: (signal) => (calls.abort++, { how: "aborted", reason: signal.reason }),
    onCrash: (error) => (calls.crash++, { how: "crash", error }),
    onSettled: () => void calls.settled++,
    ...extra,
  });
  return { result, calls };
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("runInWorker", () => {
  it("answers with the first result and ignores every later message, the deadline and the exit", async () => {
    const { result, calls } = run({ act: "reply", count: 3, delayMs: 0 }, { timeoutMs: 2000 });
    expect(await result).toEqual({ how: "message", value: 1 });
    await pause(100); // the terminated worker's exit event has come and gone
    expect(calls).toEqual({ message: 1, timeout: 0, abort: 0, crash: 0, settled: 1 });
  });

  it("a deadline that passes first wins; the late result is never seen", async () => {
    const { result, calls } = run({ act: "reply", count: 1, delayMs: 400 }, { timeoutMs: 50 });
    expect(await result).toEqual({ how: "timeout" });
    await pause(500);
    expect(calls).toEqual({ message: 0, timeout: 1, abort: 0, crash: 0, settled: 1 });
  });

  it("ends a worker that never returns to its event loop when the deadline passes", async () => {
    const started = Date.now();
    const { result, calls } = run({ act: "hang" }, { timeoutMs: 3000, onMessage: () => void calls.message++ });
    expect(await result).toEqual({ how: "timeout" });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(calls.message).toBe(1); // it was looping (the deadline leaves room for a slow worker start)
  });

  it("stops on abort, with the signal's reason", async () => {
    const controller = new AbortController();
    const { result, calls } = run({ act: "hang" }, { timeoutMs: 30_000, signal: controller.signal, onMessage: () => controller.abort("enough") });
    expect(await result).toEqual({ how: "aborted", reason: "enough" });
    await pause(100);
    expect(calls).toEqual({ message: 0, timeout: 0, abort: 1, crash: 0, settled: 1 }); // the test's onMessage replaced the counting one
  });

  it("a signal aborted before the spawn ends the run at once", async () => {
    const { result } = run({ act: "hang" }, { signal: AbortSignal.abort("too late") });
    expect(await result).toEqual({ how: "aborted", reason: "too late" });
  });

  it("a worker that throws is a typed crash", async () => {
    const { result, calls } = run({ act: "throw" });
    const end = await result;
    expect(end.how).toBe("crash");
    const error = (end as { error: WorkerCrashError }).error;
    expect(error).toBeInstanceOf(WorkerCrashError);
    expect(error).toMatchObject({ code: "worker_crashed", reason: "error", exitCode: null, message: "worker failed: boom" });
    await pause(100);
    expect(calls.crash).toBe(1); // the exit that follows the error is not a second end
  });

  it("a worker that exits without a result is a typed crash with its exit code", async () => {
    const end = await run({ act: "exit", code: 3 }).result;
    expect(end).toMatchObject({ how: "crash", error: { code: "worker_crashed", reason: "exit", exitCode: 3, message: "worker exited (3) without a result" } });
  });

  it("a worker past its heap limit is worker_out_of_memory", async () => {
    const end = await run({ act: "grow" }, { resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 } }).result;
    expect(end).toMatchObject({ how: "crash", error: { code: "worker_out_of_memory", reason: "error" } });
  });
});
