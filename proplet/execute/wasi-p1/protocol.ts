/** Messages between the wasi-p1 runtime and its worker thread. */
import type { Entrypoint, RunError } from "../../../protocol/index.js";
import type { WasmValue } from "../runtime.js";
import type { WasmModule } from "../wasm-api.js";
import type { FuncSignature } from "../wasm-binary.js";

export interface WorkerInput {
  module: WasmModule;
  programName: string;
  entrypoint: Entrypoint;
  /** Export arguments, already converted to the export's parameter types. */
  exportArgs: Array<number | bigint>;
  exportSignature: FuncSignature | null;
  args: string[];
  env: Record<string, string>;
  stdin: Uint8Array;
  outputBytes: number;
  /** Granted directories: guest path → host path (chosen by the proplet). Empty: no filesystem. */
  preopens: Record<string, string>;
}

export type WorkerMessage =
  | { type: "started" }
  | { type: "output"; fd: 1 | 2; data: Uint8Array }
  | {
      type: "done";
      exitCode: number | null;
      returnValues: WasmValue[] | null;
      stdoutTruncated: boolean;
      stderrTruncated: boolean;
      error: RunError | null;
    };
