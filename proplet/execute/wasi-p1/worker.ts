/**
 * Worker-thread entry of the wasi-p1 runtime: instantiates one compiled module with node:wasi and
 * runs it. One worker per run, so a runaway guest is stopped with `worker.terminate()` and a crash
 * stays inside the worker.
 *
 * stdio: the guest's fds 0/1/2 are opened on /dev/null inside WASI (so a guest closing them touches
 * nothing of the host), and `fd_read(0)` / `fd_write(1|2)` are served here: stdin from the task's
 * bytes, stdout/stderr streamed to the parent up to the output cap (the rest is counted as
 * truncated, never buffered), so partial output survives a timeout or stop.
 * Preopens only for the task's granted directories (none: the guest sees no filesystem). The
 * environment is exactly the task's.
 */
import { closeSync, openSync } from "node:fs";
import { parentPort } from "node:worker_threads";
import { WASI } from "node:wasi";
import { fromWasmResults } from "../values.js";
import type { FuncSignature } from "../wasm-binary.js";
import type { WorkerInput, WorkerMessage } from "./protocol.js";
import { Wasm, type WasmInstance, type WasmMemory } from "../wasm-api.js";
import { messageOf } from "../../../lib/errors.js";
import { workerJobData } from "../../../lib/worker-harness.js";

const ERRNO_SUCCESS = 0;
const ERRNO_FAULT = 21;

function post(message: WorkerMessage): void {
  parentPort!.postMessage(message);
}

async function main(input: WorkerInput): Promise<void> {
  const devNull = openSync("/dev/null", "r+");
  const wasi = new WASI({
    version: "preview1",
    args: [input.programName, ...input.args],
    env: input.env,
    returnOnExit: true,
    preopens: input.preopens,
    stdin: devNull,
    stdout: devNull,
    stderr: devNull,
  });

  let memory: WasmMemory | undefined;
  const written = { 1: 0, 2: 0 } as Record<number, number>;
  const truncated = { 1: false, 2: false } as Record<number, boolean>;
  let stdinOffset = 0;

  const iovecs = (ptr: number, count: number): Array<[number, number]> => {
    const view = new DataView(memory!.buffer);
    const out: Array<[number, number]> = [];
    for (let i = 0; i < count; i++) out.push([view.getUint32(ptr + 8 * i, true), view.getUint32(ptr + 8 * i + 4, true)]);
    return out;
  };

  const imports = { ...wasi.wasiImport } as Record<string, (...args: number[]) => number>;
  const hostWrite = imports.fd_write!;
  const hostRead = imports.fd_read!;
  imports.fd_write = (fd: number, iovs: number, count: number, nwritten: number): number => {
    if ((fd !== 1 && fd !== 2) || !memory) return hostWrite(fd, iovs, count, nwritten);
    try {
      let total = 0;
      for (const [ptr, len] of iovecs(iovs, count)) {
        total += len;
        const room = input.outputBytes - written[fd]!;
        if (len > room) truncated[fd] = true;
        const take = Math.min(len, Math.max(room, 0));
        if (take > 0) {
          // A copy: the guest's memory may grow (and detach this view) right after we return.
          post({ type: "output", fd: fd as 1 | 2, data: new Uint8Array(memory.buffer, ptr, take).slice() });
          written[fd]! += take;
        }
      }
      new DataView(memory.buffer).setUint32(nwritten, total, true);
      return ERRNO_SUCCESS;
    } catch {
      return ERRNO_FAULT; // an iovec pointing outside memory
    }
  };
  imports.fd_read = (fd: number, iovs: number, count: number, nread: number): number => {
    if (fd !== 0 || !memory) return hostRead(fd, iovs, count, nread);
    try {
      let total = 0;
      for (const [ptr, len] of iovecs(iovs, count)) {
        const take = Math.min(len, input.stdin.byteLength - stdinOffset);
        if (take <= 0) break;
        new Uint8Array(memory.buffer, ptr, take).set(input.stdin.subarray(stdinOffset, stdinOffset + take));
        stdinOffset += take;
        total += take;
      }
      new DataView(memory.buffer).setUint32(nread, total, true);
      return ERRNO_SUCCESS;
    } catch {
      return ERRNO_FAULT;
    }
  };

  const finish = (m: Omit<Extract<WorkerMessage, { type: "done" }>, "type" | "stdoutTruncated" | "stderrTruncated">) =>
    post({ type: "done", ...m, stdoutTruncated: truncated[1]!, stderrTruncated: truncated[2]! });

  let instance: WasmInstance;
  try {
    instance = await Wasm.instantiate(input.module, { wasi_snapshot_preview1: imports });
  } catch (err) {
    const e = err as Error;
    const code = e instanceof RangeError ? "memory_limit" : e instanceof Wasm.LinkError ? "link_error" : "instantiate_failed";
    finish({ exitCode: null, returnValues: null, error: { code, message: `instantiating the module failed: ${e.message}` } });
    return;
  }
  const exported = instance.exports;
  memory = exported.memory instanceof Wasm.Memory ? exported.memory : undefined;

  post({ type: "started" });
  try {
    if (input.entrypoint.kind === "wasi") {
      if (typeof exported._start !== "function") {
        finish({ exitCode: null, returnValues: null, error: { code: "export_not_found", message: "the module has no _start export (not a WASI command); use an export entrypoint" } });
        return;
      }
      const exitCode = wasi.start(instance);
      finish({ exitCode, returnValues: null, error: null });
    } else {
      // A reactor initialises itself once (constructors) before any export is called.
      if (typeof exported._initialize === "function" && memory) wasi.initialize(instance);
      const fn = exported[input.entrypoint.name];
      if (typeof fn !== "function") {
        finish({ exitCode: null, returnValues: null, error: { code: "export_not_found", message: `the module exports no function "${input.entrypoint.name}"` } });
        return;
      }
      const raw = (fn as (...a: Array<number | bigint>) => unknown)(...input.exportArgs);
      finish({ exitCode: null, returnValues: fromWasmResults(raw, input.exportSignature as FuncSignature), error: null });
    }
  } catch (err) {
    const e = err as Error & { code?: string };
    const isTrap = err instanceof Wasm.RuntimeError || err instanceof RangeError; // RangeError: stack overflow
    if (isTrap) {
      finish({ exitCode: null, returnValues: null, error: { code: "trap", message: `the module trapped: ${e.message}` } });
    } else {
      finish({ exitCode: null, returnValues: null, error: { code: e.code ?? "guest_error", message: e.message } });
    }
  } finally {
    try {
      closeSync(devNull);
    } catch {
      // The guest may have closed it through WASI already.
    }
  }
}

void workerJobData<WorkerInput>().then(main).catch((err: unknown) => {
  post({ type: "done", exitCode: null, returnValues: null, stdoutTruncated: false, stderrTruncated: false, error: { code: "runtime_error", message: messageOf(err) } });
});
