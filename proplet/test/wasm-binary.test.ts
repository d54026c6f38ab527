import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import wabt from "wabt";
import { PropellerError } from "../../protocol/errors.js";
import { Wasm } from "../execute/wasm-api.js";
import { capModuleMemory, inspectModule } from "../execute/wasm-binary.js";
import { example, wat } from "./helpers.js";

async function fromWat(source: string): Promise<Uint8Array> {
  const w = await wabt();
  const m = w.parseWat("t.wat", source, { threads: true });
  try {
    return new Uint8Array(m.toBinary({}).buffer);
  } finally {
    m.destroy();
  }
}

/** The limits as our reader sees them after the rewrite (the engine's view is checked separately). */
async function limitsOf(bytes: Uint8Array) {
  const info = inspectModule(bytes);
  return info.memories.map((m) => ({ min: m.min, max: m.max, shared: (m.flags & 2) !== 0 }));
}

describe("wasm binary reader", () => {
  it("reads export signatures, including i64 and floats", async () => {
    const info = inspectModule(await example("add/add.wasm"));
    expect(info.exports.get("add")).toEqual({ params: ["i32", "i32"], results: ["i32"] });
    expect(info.exports.get("fib")).toEqual({ params: ["i64"], results: ["i64"] });
    expect(info.exports.get("scale")).toEqual({ params: ["f64", "f32"], results: ["f64"] });
  });

  it("caps a memory without a maximum, lowers a larger one, keeps a smaller one; the result compiles", async () => {
    const cap = 32;
    const none = await wat("grow");
    const capped = capModuleMemory(none, inspectModule(none), cap);
    expect(await limitsOf(capped)).toEqual([{ min: 1, max: 32, shared: false }]);
    // the engine agrees: the exported memory grows to the cap and not one page further
    const instance = await Wasm.instantiate(await Wasm.compile(capped), {});
    const memory = instance.exports.memory as { grow(pages: number): number; buffer: ArrayBuffer };
    expect(() => memory.grow(cap)).toThrow(RangeError);
    expect(memory.grow(cap - 1)).toBe(1);
    expect(memory.buffer.byteLength).toBe(cap * 65536);
    expect(() => memory.grow(1)).toThrow(RangeError);

    const big = await fromWat('(module (memory (export "m") 2 1000))');
    expect(await limitsOf(capModuleMemory(big, inspectModule(big), cap))).toEqual([{ min: 2, max: 32, shared: false }]);
    const small = await fromWat('(module (memory (export "m") 2 8))');
    expect(capModuleMemory(small, inspectModule(small), cap)).toBe(small); // untouched
  });

  it("caps imported memories and keeps the shared flag", async () => {
    const imported = await fromWat('(module (import "env" "memory" (memory 1)) (func (export "f") (result i32) (memory.size)))');
    const capped = capModuleMemory(imported, inspectModule(imported), 16);
    expect(await limitsOf(capped)).toEqual([{ min: 1, max: 16, shared: false }]);
    await expect(Wasm.compile(capped)).resolves.toBeDefined();
    const shared = await fromWat('(module (memory (export "m") 1 100 shared))');
    const cappedShared = capModuleMemory(shared, inspectModule(shared), 16);
    expect(await limitsOf(cappedShared)).toEqual([{ min: 1, max: 16, shared: true }]);
    await expect(Wasm.compile(cappedShared)).resolves.toBeDefined();
  });

  it("refuses a module whose initial memory is above the cap", async () => {
    const big = await wat("big-initial");
    expect(() => capModuleMemory(big, inspectModule(big), 100)).toThrow(expect.objectContaining({ code: "memory_limit" }));
  });

  it("never fails with anything but a typed error on mangled input (truncations and random bit flips)", async () => {
    const original = await example("hello/hello.wasm");
    let typed = 0;
    for (let i = 0; i < 400; i++) {
      const bytes = Uint8Array.from(original);
      if (i % 2 === 0) {
        const cut = bytes.subarray(0, randomBytes(2).readUInt16BE() % bytes.byteLength);
        tryParse(cut);
      } else {
        for (let k = 0; k < 8; k++) bytes[randomBytes(2).readUInt16BE() % bytes.byteLength] = randomBytes(1)[0]!;
        tryParse(bytes);
      }
    }
    function tryParse(b: Uint8Array) {
      try {
        const info = inspectModule(b);
        capModuleMemory(b, info, 16);
      } catch (err) {
        expect(err).toBeInstanceOf(PropellerError);
        typed++;
      }
    }
    expect(typed).toBeGreaterThan(100); // most mangled inputs are refused, and each refusal is typed
  });
});
