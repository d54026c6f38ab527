/**
 * The slice of the global `WebAssembly` API the runtime uses, typed here because the project's
 * `lib` (ES2023, no DOM) does not declare it. Module-scoped on purpose: no global declarations that
 * could clash with another folder's.
 */
export interface WasmModule {
  readonly __wasmModule?: never;
}
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}
interface WasmErrorConstructor {
  new (message?: string): Error;
  prototype: Error;
}
interface WasmApi {
  compile(bytes: Uint8Array): Promise<WasmModule>;
  instantiate(module: WasmModule, imports: Record<string, Record<string, unknown>>): Promise<WasmInstance>;
  Memory: { new (descriptor: { initial: number; maximum?: number }): WasmMemory; prototype: WasmMemory };
  RuntimeError: WasmErrorConstructor;
  LinkError: WasmErrorConstructor;
  CompileError: WasmErrorConstructor;
}

export const Wasm: WasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
