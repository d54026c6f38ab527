/**
 * One way to run a job in a worker thread and get exactly one answer back: the worker is spawned
 * with no ambient environment and bounded resources, and the run ends at the first of its result,
 * its deadline, a stop signal, or the worker failing (an error or an exit without a result). Every
 * end terminates the worker, because terminate() is the only way to stop a guest that never
 * returns to the event loop; whatever arrives after the first end is ignored.
 *
 * Starting a worker costs tens of milliseconds (a new isolate, the entry's imports). `SpareWorkers`
 * starts them ahead of time: a run takes an idle spare and hands it its job as the first message.
 * A spare still serves exactly one run and is terminated after it, like a fresh worker, so no
 * state, memory or file of one run can reach the next.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker, parentPort, workerData as threadWorkerData, type ResourceLimits } from "node:worker_threads";

/** What `new Worker()` is given: a file URL, or (from TypeScript sources) a bootstrap to evaluate. */
export interface WorkerEntry {
  spec: string | URL;
  eval: boolean;
}

/**
 * The entry `./<base>` (a path without extension) next to the calling module (`callerUrl`: its import.meta.url). From dist/
 * the compiled .js file runs directly. From TypeScript sources (tests, tsx) the entry is a .ts file,
 * and Node 20 ignores `--import tsx` in a worker's execArgv for the entry itself: a tiny bootstrap
 * registers tsx's loader in the worker first, then imports the entry. It uses the ESM flavour of
 * tsx's API; require.resolve gives the CommonJS one, which cannot register ESM hooks from an
 * eval'd worker.
 */
export function workerEntry(callerUrl: string, base: string): WorkerEntry {
  if (!callerUrl.endsWith(".ts")) return { spec: new URL(`./${base}.js`, callerUrl), eval: false };
  const tsxApi = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve("tsx/package.json")), "dist/esm/api/index.mjs")).href;
  const entry = new URL(`./${base}.ts`, callerUrl).href;
  return {
    spec: `import(${JSON.stringify(tsxApi)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`,
    eval: true,
  };
}

/** The worker died before the run had its answer. */
export class WorkerCrashError extends Error {
  override readonly name = "WorkerCrashError";
  constructor(
    /** `worker_out_of_memory` when the worker passed its heap limit, else `worker_crashed`. */
    readonly code: "worker_out_of_memory" | "worker_crashed",
    /** "error": the worker threw (or ran out of memory); "exit": it exited without a result. */
    readonly reason: "error" | "exit",
    /** What happened, without a subject: "worker failed: …" or "worker exited (1) without a result". */
    message: string,
    readonly exitCode: number | null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  static of(err: Error & { code?: string }): WorkerCrashError {
    const code = err.code === "ERR_WORKER_OUT_OF_MEMORY" ? "worker_out_of_memory" : "worker_crashed";
    return new WorkerCrashError(code, "error", `worker failed: ${err.message}`, null, { cause: err });
  }

  static exited(exitCode: number): WorkerCrashError {
    return new WorkerCrashError("worker_crashed", "exit", `worker exited (${exitCode}) without a result`, exitCode);
  }
}

/** What a message handler may do with the run it belongs to. */
export interface WorkerRun<T> {
  /** Ends the run with this answer; a no-op once the run has ended. */
  settle(result: T): void;
  readonly settled: boolean;
}

export interface WorkerJob<M, T> {
  entry: WorkerEntry;
  workerData: unknown;
  resourceLimits: ResourceLimits;
  /**
   * Started workers to take one from (same entry; their own resource limits). None idle: a fresh
   * worker is spawned, as without spares.
   */
  spares?: SpareWorkers;
  /** No deadline when absent. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Each message of the worker until the run ends. */
  onMessage(message: M, run: WorkerRun<T>): void;
  /** The answer when the deadline passes first (required with timeoutMs). */
  onTimeout?(): T;
  /** The answer when the signal aborts first (also when it was aborted before the spawn). */
  onAbort?(signal: AbortSignal): T;
  /** The answer when the worker dies first. */
  onCrash(error: WorkerCrashError): T;
  /** Runs once the run has ended, before the answer is delivered (its failure is ignored). */
  onSettled?(): Promise<unknown> | void;
}

/** Runs `job` in a fresh worker thread; resolves with the first answer, never rejects. */
export function runInWorker<M, T>(job: WorkerJob<M, T>): Promise<T> {
  return new Promise<T>((resolve) => {
    const spare = job.signal?.aborted ? null : (job.spares?.take() ?? null);
    const worker = spare ?? spawnWorker(job.entry, job.workerData, job.resourceLimits);
    if (spare) spare.postMessage({ [JOB_KEY]: job.workerData });
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    // Each end is looked at only while the run is open: a late end's handler never runs.
    const end = (answer: () => T) => {
      if (!settled) run.settle(answer());
    };
    const onAbort = () => end(() => job.onAbort!(job.signal!));
    const run: WorkerRun<T> = {
      get settled() {
        return settled;
      },
      settle(result: T) {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        job.signal?.removeEventListener("abort", onAbort);
        // The worker is done or must die; terminate() is harmless on an exited worker.
        void worker.terminate().catch(() => undefined);
        const after = job.onSettled?.();
        if (after) void Promise.resolve(after).catch(() => undefined).finally(() => resolve(result));
        else resolve(result);
      },
    };
    if (job.timeoutMs !== undefined) timer = setTimeout(() => end(() => job.onTimeout!()), job.timeoutMs);
    if (job.signal && job.onAbort) {
      if (job.signal.aborted) queueMicrotask(onAbort);
      else job.signal.addEventListener("abort", onAbort, { once: true });
    }
    worker.on("message", (m: M) => {
      if (!settled) job.onMessage(m, run);
    });
    worker.on("error", (err: Error) => end(() => job.onCrash(WorkerCrashError.of(err))));
    worker.on("exit", (exitCode) => end(() => job.onCrash(WorkerCrashError.exited(exitCode))));
  });
}

/** Every worker of a job is started the same way, spare or not. */
function spawnWorker(entry: WorkerEntry, workerData: unknown, resourceLimits: ResourceLimits): Worker {
  return new Worker(entry.spec, {
    eval: entry.eval,
    workerData,
    // node:wasi prints an ExperimentalWarning per worker; it says nothing about the job.
    execArgv: ["--no-warnings"],
    // No ambient environment reaches the worker (whatever the job needs, it gets explicitly).
    env: {},
    stdin: false,
    stdout: true,
    stderr: true,
    resourceLimits,
  });
}

/** The workerData of a spare, and the key of the message that carries its job. */
const SPARE_MARK = "propeller.spare-worker";
const JOB_KEY = "propeller.worker-job";

/**
 * Inside a worker entry: its job, whether it came as workerData (a fresh worker) or as the first
 * message (a spare, started before its job existed).
 */
export function workerJobData<T>(): Promise<T> {
  if (threadWorkerData !== SPARE_MARK) return Promise.resolve(threadWorkerData as T);
  return new Promise<T>((resolve) => {
    const onMessage = (m: unknown) => {
      if (typeof m !== "object" || m === null || !(JOB_KEY in m)) return;
      parentPort!.off("message", onMessage);
      resolve((m as Record<string, unknown>)[JOB_KEY] as T);
    };
    parentPort!.on("message", onMessage);
  });
}

export interface SpareWorkersOptions {
  entry: WorkerEntry;
  resourceLimits: ResourceLimits;
  /** How many idle workers to keep started (each costs its isolate's memory while it waits). */
  count: number;
}

/**
 * Idle workers started ahead of their jobs. `take()` hands one over and starts its replacement.
 * A spare that dies while idle is dropped; after three in a row none is started until a run takes
 * one (a broken entry must not spin), and runs fall back to fresh workers, which report the
 * failure properly.
 */
export class SpareWorkers {
  private readonly idle = new Set<Worker>();
  private failuresInARow = 0;
  private closed = false;

  constructor(private readonly options: SpareWorkersOptions) {
    this.fill();
  }

  /** Idle workers now. */
  get size(): number {
    return this.idle.size;
  }

  /** An idle worker, or null; the caller owns it from here (and must terminate it). */
  take(): Worker | null {
    const next = this.idle.values().next();
    if (next.done) return null;
    const worker = next.value;
    this.idle.delete(worker);
    worker.removeAllListeners("exit");
    worker.removeAllListeners("error");
    worker.ref(); // the run keeps the process alive, as a fresh worker would
    this.failuresInARow = 0;
    this.fill();
    return worker;
  }

  async close(): Promise<void> {
    this.closed = true;
    const idle = [...this.idle];
    this.idle.clear();
    await Promise.all(idle.map((w) => w.terminate().catch(() => undefined)));
  }

  private fill(): void {
    while (!this.closed && this.idle.size < this.options.count && this.failuresInARow < 3) {
      const worker = spawnWorker(this.options.entry, SPARE_MARK, this.options.resourceLimits);
      // An idle spare must not keep a stopping process alive.
      worker.unref();
      const lost = () => {
        if (!this.idle.delete(worker)) return;
        this.failuresInARow++;
        this.fill();
      };
      worker.once("error", lost);
      worker.once("exit", lost);
      this.idle.add(worker);
    }
  }
}
