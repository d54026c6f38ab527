/**
 * Running one module: the `Runtime` seam (runtime.ts) and its implementations, one folder each.
 * Every run's worker thread is started and ended by lib/worker-harness.ts.
 */
export type { Runtime, RunReport, RunRequest, WasmValue } from "./runtime.js";
export { WasiP1Runtime, type WasiP1Options } from "./wasi-p1/runtime.js";
export { ComponentRuntime, type ComponentRuntimeOptions } from "./component/runtime.js";
export { TranspileCache } from "./component/cache.js";
export { WasiHttpRuntime } from "./wasi-http/runtime.js";
