/**
 * Worker-thread entry of one warm instance: instantiates the function's module once (WASI with no
 * args, no environment, stdio on /dev/null, no filesystem) and then serves calls of its export,
 * one at a time, for as long as it lives. Instance state persists between calls (that is warmth).
 */
import { openSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { WASI } from "node:wasi";
import { fromWasmResults, toWasmArgs } from "../execute/values.js";
import type { FuncSignature } from "../execute/wasm-binary.js";
import { Wasm, type WasmModule } from "../execute/wasm-api.js";
import type { WasmValue } from "../execute/runtime.js";
import { messageOf } from "../../lib/errors.js";

export interface InstanceInit {
  module: WasmModule;
  exportName: string;
  signature: FuncSignature;
}
export type InstanceCall = { id: number; inputs: WasmValue[] };
export type InstanceMessage =
  | { kind: "ready" }
  | { kind: "init-failed"; message: string }
  | { kind: "reply"; id: number; ok: true; values: WasmValue[] }
  | { kind: "reply"; id: number; ok: false; code: string; message: string };

const init = workerData as InstanceInit;
const post = (m: InstanceMessage) => parentPort!.postMessage(m);

async function main(): Promise<void> {
  const devNull = openSync("/dev/null", "r+");
  const wasi = new WASI({ version: "preview1", args: ["function"], env: {}, returnOnExit: true, stdin: devNull, stdout: devNull, stderr: devNull });
  let call: (...args: Array<number | bigint>) => unknown;
  try {
    const imports = { wasi_snapshot_preview1: wasi.wasiImport } as unknown as Record<string, Record<string, unknown>>;
    const instance = await Wasm.instantiate(init.module, imports);
    const exports = instance.exports as Record<string, unknown>;
    // A reactor is initialised once; a command's _start is never run (its export is what we call).
    if (typeof exports._initialize === "function") wasi.initialize(instance as never);
    const fn = exports[init.exportName];
    if (typeof fn !== "function") throw new Error(`the module has no exported function "${init.exportName}"`);
    call = fn as typeof call;
  } catch (err) {
    post({ kind: "init-failed", message: messageOf(err).slice(0, 4000) });
    return;
  }
  parentPort!.on("message", (m: InstanceCall) => {
    try {
      const args = toWasmArgs(init.exportName, m.inputs, init.signature);
      const raw = call(...args);
      post({ kind: "reply", id: m.id, ok: true, values: fromWasmResults(raw, init.signature) });
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      post({ kind: "reply", id: m.id, ok: false, code: typeof code === "string" ? code.slice(0, 64) : "trap", message: messageOf(err).slice(0, 4000) });
    }
  });
  post({ kind: "ready" });
}

void main();
