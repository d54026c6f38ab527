/**
 * The `wasi-p1` runtime: WASI preview1 core modules, each run in its own worker thread.
 *
 * Before anything runs, in this thread: the module is parsed (bounds-checked), its memories are
 * capped at the run's memory limit by rewriting their declared maximum (worker resourceLimits do
 * not bound Wasm memory: TOOLCHAIN.md), the export's inputs are converted by its signature, and the
 * module is compiled (invalid Wasm fails here as `invalid_wasm`). The worker only instantiates and
 * runs (lib/worker-harness.ts): a wall-clock timer and the stop signal end a run with
 * `worker.terminate()`, which stops even a loop that never calls the host.
 */
import type { Logger } from "pino";
import { PropellerError } from "../../../protocol/errors.js";
import { EntrypointError, InvalidWasmError } from "../../errors.js";
import type { Runtime, RunReport, RunRequest } from "../runtime.js";
import { toWasmArgs } from "../values.js";
import { GrantError, prepareGrants, type PreparedGrants } from "../grants.js";
import { WASM_PAGE_BYTES, capModuleMemory, inspectModule, type FuncSignature } from "../wasm-binary.js";
import type { WorkerInput, WorkerMessage } from "./protocol.js";
import { Wasm, type WasmModule } from "../wasm-api.js";
import { Capture, runReporter, stoppedError } from "../capture.js";
import { messageOf } from "../../../lib/errors.js";
import { SpareWorkers, runInWorker, workerEntry } from "../../../lib/worker-harness.js";

const WORKER_ENTRY = workerEntry(import.meta.url, "worker");

export interface WasiP1Options {
  logger?: Logger;
  /** The proplet's work directory: granted directories live under it (none granted without it). */
  workDir?: string;
  /** JS heap of each worker (the Wasm memory is capped separately, on the module). */
  workerHeapMb?: number;
  /** Workers kept started for the next runs (default 0: each run starts its own). */
  spareWorkers?: number;
}

interface Prepared {
  module: WasmModule;
  exportArgs: Array<number | bigint>;
  exportSignature: FuncSignature | null;
}

export class WasiP1Runtime implements Runtime {
  readonly kind = "wasi-p1" as const;
  private readonly workerHeapMb: number;
  private spares: SpareWorkers | null = null;

  constructor(private readonly options: WasiP1Options = {}) {
    this.workerHeapMb = options.workerHeapMb ?? 64;
  }

  private get resourceLimits() {
    return { maxOldGenerationSizeMb: this.workerHeapMb, maxYoungGenerationSizeMb: 16, stackSizeMb: 4 };
  }

  /** Started on the first run, so a proplet that never runs a core module holds no idle workers. */
  private spareWorkers(): SpareWorkers | undefined {
    const count = this.options.spareWorkers ?? 0;
    if (count <= 0) return undefined;
    this.spares ??= new SpareWorkers({ entry: WORKER_ENTRY, resourceLimits: this.resourceLimits, count });
    return this.spares;
  }

  async close(): Promise<void> {
    const spares = this.spares;
    this.spares = null;
    await spares?.close();
  }

  async run(request: RunRequest): Promise<RunReport> {
    const { stdout, stderr, report } = runReporter(request.limits.outputBytes, request.onOutput);
    if (request.signal.aborted) return report({ outcome: "stopped", error: stoppedError(request.signal) });

    let prepared: Prepared;
    let grants: PreparedGrants;
    try {
      prepared = await prepare(request);
      grants = await this.grants(request);
    } catch (err) {
      const e = err instanceof PropellerError ? err : new InvalidWasmError(messageOf(err));
      return report({ outcome: "failed", error: { code: e.code, message: e.message.slice(0, 4000) } });
    }
    try {
      return await this.runPrepared(request, prepared, grants, stdout, stderr, report);
    } finally {
      await grants.cleanup().catch(() => undefined);
    }
  }

  /**
   * node:wasi can preopen directories but cannot make one read-only, and preview1 has no sockets:
   * such grants are refused rather than silently weakened.
   */
  private async grants(request: RunRequest): Promise<PreparedGrants> {
    const g = request.grants;
    if (g?.hosts?.length) throw new GrantError("the wasi-p1 runtime has no network (preview1 has no sockets); run a component to use granted hosts");
    if (g?.dirs?.some((d) => d.readonly)) throw new GrantError("the wasi-p1 runtime cannot make a directory read-only; grant it writable or run a component");
    if (g?.dirs?.length && !this.options.workDir) throw new GrantError("this runtime has no work directory to hold granted directories");
    return prepareGrants(this.options.workDir ?? "", request.runId, g);
  }

  private runPrepared(
    request: RunRequest,
    prepared: Prepared,
    grants: PreparedGrants,
    stdout: Capture,
    stderr: Capture,
    report: (partial: Partial<RunReport> & Pick<RunReport, "outcome" | "error">) => RunReport,
  ): Promise<RunReport> {
    // A stop may have come while the module compiled: no worker for it then.
    if (request.signal.aborted) return Promise.resolve(report({ outcome: "stopped", error: stoppedError(request.signal) }));

    const input: WorkerInput = {
      module: prepared.module,
      programName: `${request.runId}.wasm`,
      entrypoint: request.entrypoint,
      exportArgs: prepared.exportArgs,
      exportSignature: prepared.exportSignature,
      args: request.args,
      env: request.env,
      stdin: request.stdin,
      outputBytes: request.limits.outputBytes,
      preopens: Object.fromEntries(grants.dirs.map((d) => [d.guest, d.host])),
    };

    let startedAt: Date | null = null;
    const spares = this.spareWorkers();
    return runInWorker<WorkerMessage, RunReport>({
      entry: WORKER_ENTRY,
      workerData: input,
      resourceLimits: this.resourceLimits,
      ...(spares ? { spares } : {}),
      timeoutMs: request.limits.timeoutMs,
      signal: request.signal,
      onTimeout: () => report({ outcome: "failed", startedAt, error: { code: "timeout", message: `the run exceeded its ${request.limits.timeoutMs} ms time limit and was terminated` } }),
      onAbort: (signal) => report({ outcome: "stopped", startedAt, error: stoppedError(signal) }),
      onCrash: (crash) => {
        if (crash.reason === "error") this.options.logger?.warn({ runId: request.runId, err: messageOf(crash.cause) }, "workload worker failed");
        return report({ outcome: "failed", startedAt, error: { code: crash.code, message: `the workload's ${crash.message}` } });
      },
      onMessage: (m, run) => {
        if (m.type === "started") startedAt = new Date();
        else if (m.type === "output") (m.fd === 1 ? stdout : stderr).push(m.data);
        else if (m.type === "done") {
          run.settle(
            report({
              outcome: m.error ? "failed" : "completed",
              startedAt,
              exitCode: m.exitCode,
              returnValues: m.returnValues,
              stdoutTruncated: m.stdoutTruncated,
              stderrTruncated: m.stderrTruncated,
              error: m.error,
            }),
          );
        }
      },
    });
  }
}

async function prepare(request: RunRequest): Promise<Prepared> {
  const info = inspectModule(request.module);
  const capPages = Math.floor(request.limits.memoryBytes / WASM_PAGE_BYTES);
  const capped = capModuleMemory(request.module, info, capPages);

  let exportArgs: Array<number | bigint> = [];
  let exportSignature: FuncSignature | null = null;
  if (request.entrypoint.kind === "export") {
    if (!("inputs" in request.entrypoint)) {
      throw new EntrypointError("invalid_inputs", "a core module's export takes numeric inputs (entrypoint.inputs); WAVE args are for the component runtime");
    }
    const { name, inputs } = request.entrypoint;
    const sig = info.exports.get(name);
    if (!sig) throw new EntrypointError("export_not_found", `the module exports no function "${name}"`);
    exportArgs = toWasmArgs(name, inputs, sig);
    exportSignature = sig;
  }

  let module: WasmModule;
  try {
    module = await Wasm.compile(capped);
  } catch (err) {
    throw new InvalidWasmError(`the module does not compile: ${messageOf(err)}`);
  } finally {
    // compile() copied the bytes when called. The memory-capped rewrite is our own copy of the
    // module (a confidential workload's plaintext): zero it now rather than leave it to the GC.
    // (request.module itself belongs to the caller, who zeroes it.)
    if (capped !== request.module) capped.fill(0);
  }
  return { module, exportArgs, exportSignature };
}
