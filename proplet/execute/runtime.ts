/**
 * The runtime seam: code above it (the lease) never asks which implementation runs a module.
 * One folder per implementation: `wasi-p1/` (WASI preview1 core modules), `component/` (WASI
 * preview 2 components: commands and custom exports), `wasi-http/` (components serving
 * wasi:http as daemons).
 */
import type { Entrypoint, Grants, RunError, RunLimits, RunOutcome, RuntimeKind } from "../../protocol/index.js";

export type WasmValue = number | string;

export interface RunRequest {
  runId: string;
  /** The verified module bytes (digest already checked). */
  module: Uint8Array;
  entrypoint: Entrypoint;
  args: string[];
  /** The task's environment, and nothing else: no ambient variables reach a workload. */
  env: Record<string, string>;
  stdin: Uint8Array;
  limits: RunLimits;
  /** Aborting stops the run at once; the report's outcome is then "stopped". */
  signal: AbortSignal;
  /** Filesystem and network the task grants (none when absent). */
  grants?: Grants;
  /**
   * The module is secret (a confidential workload's plaintext): nothing derived from it may be
   * written to disk (no transpile cache).
   */
  secret?: boolean;
  /** A daemon (wasi-http) calls this once it serves, with the URL it is reachable at. */
  onEndpoint?: (url: string) => void;
  /** Hears the guest's output as it is written, in order, up to the output cap (live logs). */
  onOutput?: (stream: "stdout" | "stderr", data: Uint8Array) => void;
}

export interface RunReport {
  outcome: RunOutcome;
  exitCode: number | null;
  returnValues: WasmValue[] | null;
  /** A component export's result as WAVE text. */
  returnWave?: string | null;
  stdout: Uint8Array;
  stderr: Uint8Array;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  error: RunError | null;
  /** When the guest code started (null when it never did). */
  startedAt: Date | null;
  finishedAt: Date;
}

export interface Runtime {
  readonly kind: RuntimeKind;
  /** Runs one module to its end. Never rejects: every failure is a report with outcome "failed". */
  run(request: RunRequest): Promise<RunReport>;
  /** Releases what the runtime holds between runs (started workers); runs after it start cold. */
  close?(): Promise<void>;
}
