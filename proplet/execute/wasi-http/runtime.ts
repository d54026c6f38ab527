/**
 * The `wasi-http` runtime: a component serving `wasi:http/incoming-handler`, run by the component
 * runtime's machinery (transpile, memory caps, sandbox, worker) as a daemon: it stays running until
 * stopped, `limits.timeoutMs` bounds each request instead of the run, and its URL is reported
 * through `onEndpoint` (daemon.ts, http-front.ts).
 */
import { ComponentRuntime, type ComponentRuntimeOptions } from "../component/runtime.js";

export class WasiHttpRuntime extends ComponentRuntime {
  constructor(options: Omit<ComponentRuntimeOptions, "kind">) {
    super({ ...options, kind: "wasi-http" });
  }
}
