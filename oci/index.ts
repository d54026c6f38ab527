export * from "./errors.js";
export * from "./reference.js";
export * from "./auth.js";
export * from "./manifest.js";
export * from "./client.js";
export * from "./cache.js";
export * from "./wasm-artifact.js";
export type { TransportOptions } from "./transport.js";
