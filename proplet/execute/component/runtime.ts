/**
 * The component runtimes: WASI preview 2 components through jco (transpile) and
 * @bytecodealliance/preview2-shim, one worker thread per run, under the same limits as wasi-p1.
 *
 * - `component`: a command (`wasi` entrypoint: `wasi:cli/run`) or a call of a custom export
 *   (`export` entrypoint with WAVE `args`, typed by the component's own WIT; the result comes
 *   back as WAVE text in `returnWave`).
 * - `wasi-http`: a daemon serving `wasi:http/incoming-handler` on a port this proplet allocates
 *   (`httpHost`, any free port); the URL is reported through `onEndpoint`; the run stays running
 *   until stopped. `limits.timeoutMs` bounds each request (not the daemon), `httpBodyBytes` each
 *   request body.
 *
 * Before anything runs, in this thread: the component is transpiled (in a short-lived worker; the
 * output cached on disk by sha256 unless the component is secret), every core module's memory is
 * capped (memory.ts), the modules are compiled, the export and its arguments are checked
 * against the WIT, the granted directories are prepared. The run's worker gets compiled modules
 * and the JS source; it never reads the cache.
 */
import type { Logger } from "pino";
import { PropellerError } from "../../../protocol/errors.js";
import { EntrypointError, InvalidWasmError } from "../../errors.js";
import { TranspileCache } from "./cache.js";
import { capComponentMemories } from "./memory.js";
import type { ComponentWorkerInput, ComponentWorkerMessage, TranspileReply, TranspiledFiles } from "./protocol.js";
import { prepareGrants, type PreparedGrants } from "../grants.js";
import { serveDaemon } from "../wasi-http/daemon.js";
import type { Runtime, RunReport, RunRequest } from "../runtime.js";
import { Wasm, type WasmModule } from "../wasm-api.js";
import { parseArgs, toWave } from "./wave.js";
import { exportedFunctions, type WitFunction } from "./wit.js";
import { Capture, runReporter, stoppedError } from "../capture.js";
import { messageOf } from "../../../lib/errors.js";
import { runInWorker, workerEntry } from "../../../lib/worker-harness.js";

const RUN_WORKER = workerEntry(import.meta.url, "worker");
const TRANSPILE_WORKER = workerEntry(import.meta.url, "transpile-worker");

export interface ComponentRuntimeOptions {
  kind: "component" | "wasi-http";
  /** The proplet's work directory: granted directories live under it. */
  workDir: string;
  /** Shared by both runtimes of a proplet; none = transpile every time. */
  cache?: TranspileCache;
  logger?: Logger;
  /** JS heap of each run worker (Wasm memory is capped separately, in the modules). */
  workerHeapMb?: number;
  /** Bound on transpiling one component (default 120 s). */
  transpileTimeoutMs?: number;
  /** Where wasi-http daemons listen (default 127.0.0.1). */
  httpHost?: string;
  /** Largest request body a wasi-http daemon accepts (default 1 MiB). */
  httpBodyBytes?: number;
}

interface Prepared {
  input: ComponentWorkerInput;
  fn: WitFunction | null;
  grants: PreparedGrants;
}

export class ComponentRuntime implements Runtime {
  readonly kind: "component" | "wasi-http";

  constructor(private readonly options: ComponentRuntimeOptions) {
    this.kind = options.kind;
  }

  async run(request: RunRequest): Promise<RunReport> {
    const { stdout, stderr, report } = runReporter(request.limits.outputBytes, request.onOutput);
    const failed = (err: unknown) => {
      const e = err instanceof PropellerError ? err : new InvalidWasmError(messageOf(err));
      return report({ outcome: "failed", error: { code: e.code, message: e.message.slice(0, 4000) } });
    };
    if (request.signal.aborted) return report({ outcome: "stopped", error: stoppedError(request.signal) });

    let prepared: Prepared;
    try {
      prepared = await this.prepare(request);
    } catch (err) {
      if (request.signal.aborted) return report({ outcome: "stopped", error: stoppedError(request.signal) });
      return failed(err);
    }
    try {
      if (request.signal.aborted) return report({ outcome: "stopped", error: stoppedError(request.signal) });
      return await this.execute(request, prepared, stdout, stderr, report);
    } finally {
      await prepared.grants.cleanup().catch(() => undefined);
    }
  }

  private async prepare(request: RunRequest): Promise<Prepared> {
    const files = await this.transpiled(request);
    const mode: ComponentWorkerInput["mode"] = this.kind === "wasi-http" ? "http" : request.entrypoint.kind === "wasi" ? "command" : "export";
    let fn: WitFunction | null = null;
    let exportPath: string[] = [];
    let exportArgs: unknown[] = [];
    if (mode === "command") exportPath = ["run", "run"];
    if (mode === "export") {
      const ep = request.entrypoint as Extract<RunRequest["entrypoint"], { kind: "export" }>;
      if (!("args" in ep)) {
        throw new EntrypointError("invalid_inputs", `a component's export takes WAVE text arguments: give entrypoint.args (e.g. "1, 2"), not numeric inputs`);
      }
      const fns = exportedFunctions(files.wit);
      fn = fns.get(ep.name) ?? null;
      if (!fn) {
        const names = [...fns.keys()].slice(0, 50).join(", ");
        throw new EntrypointError("export_not_found", `the component exports no function "${ep.name}"${names ? ` (it exports: ${names})` : " (it exports no functions)"}`);
      }
      exportArgs = parseArgs(ep.args, fn.params, `"${fn.name}"`);
      exportPath = fn.path;
    }
    if (this.kind === "wasi-http" && request.entrypoint.kind !== "wasi") {
      throw new EntrypointError("invalid_inputs", "a wasi-http task serves requests: its entrypoint is {kind: \"wasi\"}");
    }

    const capped = capComponentMemories(files.cores, request.limits.memoryBytes);
    const cores: Record<string, WasmModule> = {};
    try {
      for (const [name, bytes] of Object.entries(capped)) cores[name] = await Wasm.compile(bytes);
    } catch (err) {
      throw new InvalidWasmError(`the component's core module does not compile: ${messageOf(err)}`);
    } finally {
      if (request.secret) for (const [name, bytes] of Object.entries(capped)) if (bytes !== files.cores[name]) bytes.fill(0);
    }
    const grants = await prepareGrants(this.options.workDir, request.runId, request.grants);
    const input: ComponentWorkerInput = {
      mode,
      js: files.js,
      cores,
      programName: `${request.runId}.wasm`,
      args: request.args,
      env: request.env,
      stdin: request.stdin,
      outputBytes: request.limits.outputBytes,
      exportPath,
      exportArgs,
      resultIsResult: fn?.result?.kind === "result",
      dirs: grants.dirs,
      hosts: grants.hosts,
    };
    return { input, fn, grants };
  }

  /** From the cache, or transpiled in a worker (and then cached, unless the component is secret). */
  private async transpiled(request: RunRequest): Promise<TranspiledFiles> {
    const cache = request.secret ? undefined : this.options.cache;
    const key = cache ? TranspileCache.key(request.module) : "";
    const hit = cache ? await cache.get(key) : null;
    if (hit) return hit;
    const files = await transpileInWorker(request.module, this.options.transpileTimeoutMs ?? 120_000, request.signal);
    if (cache) await cache.put(key, files);
    return files;
  }

  private execute(
    request: RunRequest,
    prepared: Prepared,
    stdout: Capture,
    stderr: Capture,
    report: (partial: Partial<RunReport> & Pick<RunReport, "outcome" | "error">) => RunReport,
  ): Promise<RunReport> {
    const daemon = prepared.input.mode === "http";
    let startedAt: Date | null = null;
    let front: { close(): Promise<void> } | undefined;
    return runInWorker<ComponentWorkerMessage, RunReport>({
      entry: RUN_WORKER,
      workerData: prepared.input,
      resourceLimits: { maxOldGenerationSizeMb: this.options.workerHeapMb ?? 128, maxYoungGenerationSizeMb: 16, stackSizeMb: 4 },
      // A daemon has no run deadline: limits.timeoutMs bounds each request instead.
      ...(daemon ? {} : { timeoutMs: request.limits.timeoutMs }),
      signal: request.signal,
      onTimeout: () => report({ outcome: "failed", startedAt, error: { code: "timeout", message: `the run exceeded its ${request.limits.timeoutMs} ms time limit and was terminated` } }),
      onAbort: (signal) => report({ outcome: "stopped", startedAt, error: stoppedError(signal) }),
      onCrash: (crash) => {
        if (crash.reason === "error") this.options.logger?.warn({ runId: request.runId, err: messageOf(crash.cause) }, "component worker failed");
        return report({ outcome: "failed", startedAt, error: { code: crash.code, message: `the workload's ${crash.message}` } });
      },
      // The daemon's front closes before the run's report is delivered.
      onSettled: () => front?.close(),
      onMessage: (m, run) => {
        if (m.type === "started") startedAt = new Date();
        else if (m.type === "output") (m.fd === 1 ? stdout : stderr).push(m.data);
        else if (m.type === "listening") {
          front = serveDaemon({
            targetPort: m.port,
            host: this.options.httpHost ?? "127.0.0.1",
            bodyBytes: this.options.httpBodyBytes ?? 1024 * 1024,
            requestTimeoutMs: request.limits.timeoutMs,
            runId: request.runId,
            ...(this.options.logger ? { logger: this.options.logger } : {}),
            ...(request.onEndpoint ? { onEndpoint: request.onEndpoint } : {}),
            ended: () => run.settled,
            fail: (error) => run.settle(report({ outcome: "failed", startedAt, error })),
          });
        } else if (m.type === "done") {
          let returnWave: string | null = null;
          let error = m.error;
          if (!error && prepared.fn?.result) {
            try {
              returnWave = toWave(m.value, prepared.fn.result);
            } catch (err) {
              error = { code: "result_invalid", message: messageOf(err) };
            }
          } else if (!error && prepared.fn && !prepared.fn.result) returnWave = "";
          run.settle(
            report({
              outcome: error ? "failed" : "completed",
              startedAt,
              exitCode: m.exitCode,
              returnWave,
              stdoutTruncated: m.stdoutTruncated,
              stderrTruncated: m.stderrTruncated,
              error,
            }),
          );
        }
      },
    });
  }
}

/** Transpiles in a short-lived worker, bounded in time and stopped by the run's signal. */
export async function transpileInWorker(component: Uint8Array, timeoutMs: number, signal?: AbortSignal): Promise<TranspiledFiles> {
  type Outcome = { ok: true; files: TranspiledFiles } | { ok: false; error: Error };
  const failed = (error: Error): Outcome => ({ ok: false, error });
  const outcome = await runInWorker<TranspileReply, Outcome>({
    entry: TRANSPILE_WORKER,
    workerData: { component },
    resourceLimits: { maxOldGenerationSizeMb: 1024, stackSizeMb: 8 },
    timeoutMs,
    ...(signal ? { signal } : {}),
    onTimeout: () => failed(new PropellerError("transpile_timeout", `transpiling the component took longer than ${timeoutMs} ms`)),
    onAbort: () => failed(new PropellerError("stopped", "stopped while transpiling")),
    onCrash: (crash) =>
      failed(
        new PropellerError(
          "transpile_failed",
          crash.reason === "exit" ? `the transpiler exited (${crash.exitCode}) without a result` : `the transpiler failed: ${messageOf(crash.cause)}`,
        ),
      ),
    onMessage: (m, run) => run.settle(m.ok ? { ok: true, files: m.files } : failed(new InvalidWasmError(m.message.slice(0, 3000)))),
  });
  if (!outcome.ok) throw outcome.error;
  return outcome.files;
}
