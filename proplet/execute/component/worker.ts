/**
 * Worker-thread entry of the component runtimes: instantiates one transpiled component (its JS
 * imported from a data: URL, its core modules compiled and memory-capped by the parent) with the
 * sandboxed imports (sandbox.ts), then
 * - `command`: calls `wasi:cli/run#run` and reports the exit code;
 * - `export`: calls the named export with the converted arguments and reports its value;
 * - `http`: serves `wasi:http/incoming-handler` on an ephemeral loopback port (the preview2-shim's
 *   HTTP server) and reports the port; the parent fronts it and terminates us on stop.
 */
import { parentPort, workerData } from "node:worker_threads";
import * as httpShim from "@bytecodealliance/preview2-shim/http";
import { buildSandbox, GuestExit } from "./sandbox.js";
import type { ComponentWorkerInput, ComponentWorkerMessage } from "./protocol.js";
import { Wasm, type WasmModule } from "../wasm-api.js";
import { messageOf } from "../../../lib/errors.js";

function post(message: ComponentWorkerMessage): void {
  parentPort!.postMessage(message);
}

type Instance = Record<string, unknown>;
// Node's flavour of the shim (the "node" export condition) has the server; its published types are the browser's.
const { HTTPServer } = httpShim as unknown as { HTTPServer: new (handler: unknown) => { listen(port: number, host: string): void; address(): unknown; stop(): void } };
type Done = Omit<Extract<ComponentWorkerMessage, { type: "done" }>, "type" | "stdoutTruncated" | "stderrTruncated">;

async function main(input: ComponentWorkerInput): Promise<void> {
  const sandbox = buildSandbox({ ...input, onOutput: (fd, data) => post({ type: "output", fd, data }) });
  const finish = (m: Done) => post({ type: "done", ...m, stdoutTruncated: sandbox.truncated[1], stderrTruncated: sandbox.truncated[2] });

  let instance: Instance;
  try {
    const mod = (await import(`data:text/javascript;base64,${Buffer.from(input.js).toString("base64")}`)) as {
      instantiate: (getCore: (name: string) => WasmModule, imports: Record<string, unknown>) => Promise<Instance>;
    };
    instance = await mod.instantiate((name) => {
      const core = input.cores[name];
      if (!core) throw new Error(`the transpiled component asked for an unknown core module ${name}`);
      return core;
    }, sandbox.imports);
  } catch (err) {
    const e = err as Error;
    const code = (err as object) instanceof RangeError ? "memory_limit" : (err as object) instanceof Wasm.LinkError ? "link_error" : (err as object) instanceof GuestExit ? "guest_exit" : "instantiate_failed";
    finish({ exitCode: null, error: { code, message: `instantiating the component failed: ${e?.message ?? String(err)}` } });
    return;
  }

  if (input.mode === "http") {
    const handler = (instance["wasi:http/incoming-handler"] ?? instance.incomingHandler) as { handle?: unknown } | undefined;
    if (typeof handler?.handle !== "function") {
      finish({ exitCode: null, error: { code: "export_not_found", message: "the component does not export wasi:http/incoming-handler (not a wasi:http proxy)" } });
      return;
    }
    const server = new HTTPServer(handler);
    server.listen(0, "127.0.0.1");
    const address = server.address() as { port: number };
    post({ type: "started" });
    post({ type: "listening", port: address.port });
    return; // serves until the parent terminates this worker
  }

  let fn: unknown = instance;
  for (const key of input.exportPath) fn = (fn as Record<string, unknown> | undefined)?.[key];
  if (typeof fn !== "function") {
    const what = input.mode === "command" ? "wasi:cli/run (not a command component; use an export entrypoint)" : `the function ${input.exportPath.join(".")}`;
    finish({ exitCode: null, error: { code: "export_not_found", message: `the component does not export ${what}` } });
    return;
  }

  post({ type: "started" });
  try {
    const value = (fn as (...a: unknown[]) => unknown)(...input.exportArgs);
    if (input.mode === "command") finish({ exitCode: 0, error: null });
    else finish({ exitCode: null, value: input.resultIsResult ? { tag: "ok", val: value } : value, error: null });
  } catch (err) {
    if (err instanceof GuestExit) {
      finish({ exitCode: err.code, error: null });
      return;
    }
    const e = err as Error & { payload?: unknown };
    if (input.mode === "command" && e?.constructor?.name === "ComponentError") {
      // wasi:cli/run returned err: the command failed, as exit code 1 does
      finish({ exitCode: 1, error: null });
      return;
    }
    if (input.resultIsResult && e?.constructor?.name === "ComponentError") {
      finish({ exitCode: null, value: { tag: "err", val: e.payload }, error: null });
      return;
    }
    const isTrap = err instanceof Wasm.RuntimeError || err instanceof RangeError;
    finish({ exitCode: null, error: { code: isTrap ? "trap" : "guest_error", message: `${isTrap ? "the component trapped" : "the component failed"}: ${e?.message ?? String(err)}` } });
  }
}

void main(workerData as ComponentWorkerInput).catch((err: unknown) => {
  post({ type: "done", exitCode: null, stdoutTruncated: false, stderrTruncated: false, error: { code: "runtime_error", message: messageOf(err) } });
});
