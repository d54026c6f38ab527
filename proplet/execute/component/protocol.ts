/** Messages between the component runtime and its worker threads (transpile, run). */
import type { RunError } from "../../../protocol/index.js";
import type { WasmModule } from "../wasm-api.js";

/** What jco made of a component: the instantiate() module, its core modules, and its WIT text. */
export interface TranspiledFiles {
  js: string;
  cores: Record<string, Uint8Array>;
  wit: string;
}

export interface TranspileRequest {
  component: Uint8Array;
}
export type TranspileReply = { ok: true; files: TranspiledFiles } | { ok: false; message: string };

export interface DirGrant {
  guest: string;
  host: string;
  readonly: boolean;
}

export interface ComponentWorkerInput {
  mode: "command" | "export" | "http";
  /** The transpiled instantiate() module's source (imported from a data: URL, never from disk). */
  js: string;
  /** Core modules, memory-capped and compiled by the parent. */
  cores: Record<string, WasmModule>;
  programName: string;
  args: string[];
  env: Record<string, string>;
  stdin: Uint8Array;
  outputBytes: number;
  /** `export`: where the function is on the instance, and its converted arguments. */
  exportPath: string[];
  exportArgs: unknown[];
  /** The export's WIT result is a `result<…>`: jco throws its err case, which we give back as err. */
  resultIsResult: boolean;
  dirs: DirGrant[];
  hosts: string[];
}

export type ComponentWorkerMessage =
  | { type: "started" }
  | { type: "output"; fd: 1 | 2; data: Uint8Array }
  | { type: "listening"; port: number }
  | {
      type: "done";
      exitCode: number | null;
      /** The export's result (jco's JS value), `{tag: "err"}` when it threw a result's err case. */
      value?: unknown;
      stdoutTruncated: boolean;
      stderrTruncated: boolean;
      error: RunError | null;
    };
