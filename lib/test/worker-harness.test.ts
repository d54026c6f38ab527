import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { SpareWorkers, WorkerCrashError, runInWorker, workerEntry, type WorkerJob } from "../worker-harness.js";

const ENTRY = workerEntry(import.meta.url, "fixtures/harness-worker");

type End = { how: "message"; value: unknown } | { how: "timeout" } | { how: "aborted"; reason: unknown } | { how: "crash"; error: WorkerCrashError };

/** Every test runs twice: on a fresh worker, and on a spare started before its job existed. */
const SPARES = new SpareWorkers({ entry: ENTRY, resourceLimits: { maxOldGenerationSizeMb: 32 }, count: 2 });
afterAll(() => SPARES.close());
let spares: SpareWorkers | undefined;

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
    ...(spares ? { spares } : {}),
    ...extra,
  });
  return { result, calls };
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each([
  ["a fresh worker", undefined],
  ["a spare worker", SPARES],
])("runInWorker on %s", (_name, using) => {
  beforeEach(() => {
    spares = using;
  });

  it("answers with the first result and ignores every later message, the deadline and the exit", async () => {
    const { result, calls } = run({ act: "reply", count: 3, delayMs: 0 }, { timeoutMs: 20_000 });
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

describe("SpareWorkers", () => {
  const waitFor = async (ok: () => boolean) => {
    for (let i = 0; i < 200 && !ok(); i++) await pause(25);
    return ok();
  };

  it("keeps its count started: a taken spare is replaced, and serves exactly one job", async () => {
    const pool = new SpareWorkers({ entry: ENTRY, resourceLimits: { maxOldGenerationSizeMb: 32 }, count: 2 });
    try {
      expect(pool.size).toBe(2);
      const taken = pool.take()!;
      expect(pool.size).toBe(2); // its replacement is already starting
      const exited = new Promise<number>((r) => taken.once("exit", r));
      const end = await runInWorker<unknown, End>({
        entry: ENTRY,
        workerData: { act: "reply", count: 1, delayMs: 0 },
        resourceLimits: { maxOldGenerationSizeMb: 32 },
        spares: { take: () => taken } as unknown as SpareWorkers, // hand this very worker to the run
        onMessage: (value, r) => r.settle({ how: "message", value }),
        onCrash: (error) => ({ how: "crash", error }),
      });
      expect(end).toEqual({ how: "message", value: 1 });
      await exited; // terminated after its one job: never idle again
      expect(pool.size).toBe(2);
    } finally {
      await pool.close();
    }
    expect(pool.size).toBe(0);
  });

  it("stops starting spares of an entry that dies while idle, and runs still get an answer", async () => {
    const broken = workerEntry(import.meta.url, "fixtures/does-not-exist");
    const pool = new SpareWorkers({ entry: broken, resourceLimits: { maxOldGenerationSizeMb: 32 }, count: 2 });
    try {
      expect(await waitFor(() => pool.size === 0)).toBe(true);
      await pause(300);
      expect(pool.size).toBe(0); // not respawning in a loop
      const end = await runInWorker<unknown, End>({
        entry: broken,
        workerData: null,
        resourceLimits: { maxOldGenerationSizeMb: 32 },
        spares: pool,
        onMessage: (value, r) => r.settle({ how: "message", value }),
        onCrash: (error) => ({ how: "crash", error }),
      });
      expect(end.how).toBe("crash");
    } finally {
      await pool.close();
    }
  });
});
