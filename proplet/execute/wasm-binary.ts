/**
 * A small, bounds-checked reader of the WebAssembly binary format — only the parts the proplet
 * must see before it compiles a module:
 *
 * - memory limits (memory section and memory imports), so the memory cap can be written INTO the
 *   module: a worker's `resourceLimits` do not bound Wasm linear memory (TOOLCHAIN.md), but a
 *   declared maximum does (`memory.grow` past it returns -1);
 * - the signatures of exported functions, because the JS API does not tell whether a parameter is
 *   an i32 or an i64 (the export entrypoint converts JSON inputs accordingly).
 *
 * Everything else is copied byte for byte; `WebAssembly.compile` validates the result.
 * Malformed input raises `InvalidWasmError` (never a RangeError or an out-of-bounds read).
 */
import { InvalidWasmError, MemoryLimitError } from "../errors.js";

export const WASM_PAGE_BYTES = 65536;

export type ValType = "i32" | "i64" | "f32" | "f64" | "v128" | "funcref" | "externref";
export interface FuncSignature {
  params: ValType[];
  results: ValType[];
}

const VALTYPES: Record<number, ValType> = {
  0x7f: "i32",
  0x7e: "i64",
  0x7d: "f32",
  0x7c: "f64",
  0x7b: "v128",
  0x70: "funcref",
  0x6f: "externref",
};

const SECTION = { custom: 0, type: 1, import: 2, function: 3, memory: 5, export: 7 } as const;

class Reader {
  constructor(
    readonly bytes: Uint8Array,
    public pos: number,
    readonly end: number,
  ) {}

  get done(): boolean {
    return this.pos >= this.end;
  }

  byte(): number {
    if (this.pos >= this.end) throw new InvalidWasmError(`unexpected end of module at byte ${this.pos}`);
    return this.bytes[this.pos++]!;
  }

  /** Unsigned LEB128 of at most 32 bits. */
  u32(): number {
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) {
        if (result > 0xffffffff) throw new InvalidWasmError(`u32 out of range at byte ${this.pos}`);
        return result;
      }
      shift += 7;
    }
    throw new InvalidWasmError(`u32 LEB128 longer than 5 bytes at byte ${this.pos}`);
  }

  skip(n: number): void {
    if (n > this.end - this.pos) throw new InvalidWasmError(`length ${n} at byte ${this.pos} runs past its section`);
    this.pos += n;
  }

  name(): string {
    const len = this.u32();
    const start = this.pos;
    this.skip(len);
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset + start, len).toString("utf8");
  }

  valtype(): ValType {
    const b = this.byte();
    const t = VALTYPES[b];
    if (!t) throw new InvalidWasmError(`unknown value type 0x${b.toString(16)} at byte ${this.pos - 1}`);
    return t;
  }
}

interface Limits {
  /** Absolute offsets of the encoded limits (flags, min, max?) in the module. */
  start: number;
  end: number;
  flags: number;
  min: number;
  max: number | undefined;
  /** Imported (another module's memory, capped there) rather than defined here. */
  imported?: boolean;
}

function readLimits(r: Reader, what: string): Limits {
  const start = r.pos;
  const flags = r.byte();
  if (flags & 0x04) throw new InvalidWasmError(`${what}: 64-bit memories are not supported`);
  if (flags & ~0x03) throw new InvalidWasmError(`${what}: unknown limits flags 0x${flags.toString(16)}`);
  const min = r.u32();
  const max = flags & 0x01 ? r.u32() : undefined;
  return { start, end: r.pos, flags, min, max };
}

interface Section {
  id: number;
  /** Offsets of the section header (id byte) and of its content. */
  start: number;
  contentStart: number;
  end: number;
}

export interface ModuleInfo {
  sections: Section[];
  memories: Limits[];
  /** Exported functions by name. */
  exports: Map<string, FuncSignature>;
}

function sections(bytes: Uint8Array): Section[] {
  if (bytes.byteLength < 8) throw new InvalidWasmError("not a WebAssembly module: shorter than its 8-byte header");
  const magic = bytes[0] === 0x00 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d;
  if (!magic) throw new InvalidWasmError("not a WebAssembly module: the \\0asm magic number is missing");
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) {
    throw new InvalidWasmError("unsupported binary version (only core modules, version 1; components are a different runtime)");
  }
  const out: Section[] = [];
  const r = new Reader(bytes, 8, bytes.byteLength);
  while (!r.done) {
    const start = r.pos;
    const id = r.byte();
    const size = r.u32();
    const contentStart = r.pos;
    r.skip(size);
    out.push({ id, start, contentStart, end: r.pos });
  }
  return out;
}

/** Parses what the proplet needs to know about a module. Throws InvalidWasmError. */
export function inspectModule(bytes: Uint8Array): ModuleInfo {
  const all = sections(bytes);
  const types: Array<FuncSignature | undefined> = [];
  const funcTypes: number[] = [];
  const memories: Limits[] = [];
  const exported: Array<{ name: string; index: number }> = [];

  for (const s of all) {
    const r = new Reader(bytes, s.contentStart, s.end);
    if (s.id === SECTION.type) {
      const count = r.u32();
      for (let i = 0; i < count; i++) {
        const form = r.byte();
        // Only plain function types are understood; later proposals (GC rec groups) are left for
        // the compiler to judge, and their exports cannot be called with numeric inputs.
        if (form !== 0x60) break;
        const params: ValType[] = [];
        for (let n = r.u32(); n > 0; n--) params.push(r.valtype());
        const results: ValType[] = [];
        for (let n = r.u32(); n > 0; n--) results.push(r.valtype());
        types.push({ params, results });
      }
    } else if (s.id === SECTION.import) {
      const count = r.u32();
      for (let i = 0; i < count; i++) {
        const module = r.name();
        const field = r.name();
        const kind = r.byte();
        if (kind === 0x00) funcTypes.push(r.u32());
        else if (kind === 0x01) {
          r.byte(); // reference type
          readLimits(r, `table import ${module}.${field}`);
        } else if (kind === 0x02) memories.push({ ...readLimits(r, `memory import ${module}.${field}`), imported: true });
        else if (kind === 0x03) {
          r.byte(); // value type
          r.byte(); // mutability
        } else if (kind === 0x04) {
          r.byte(); // tag attribute
          r.u32(); // type index
        } else throw new InvalidWasmError(`unknown import kind 0x${kind.toString(16)} for ${module}.${field}`);
      }
    } else if (s.id === SECTION.function) {
      for (let n = r.u32(); n > 0; n--) funcTypes.push(r.u32());
    } else if (s.id === SECTION.memory) {
      const count = r.u32();
      for (let i = 0; i < count; i++) memories.push(readLimits(r, `memory ${i}`));
    } else if (s.id === SECTION.export) {
      const count = r.u32();
      for (let i = 0; i < count; i++) {
        const name = r.name();
        const kind = r.byte();
        const index = r.u32();
        if (kind === 0x00) exported.push({ name, index });
      }
    }
  }

  const exports = new Map<string, FuncSignature>();
  for (const { name, index } of exported) {
    const typeIndex = funcTypes[index];
    const sig = typeIndex === undefined ? undefined : types[typeIndex];
    if (sig) exports.set(name, sig);
  }
  return { sections: all, memories, exports };
}

function u32Leb(value: number): number[] {
  const out: number[] = [];
  let v = value >>> 0;
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

/**
 * Returns the module with every memory's maximum set to min(declared maximum, capPages), so the
 * engine itself refuses `memory.grow` beyond the cap. A memory whose initial size already exceeds
 * the cap is refused (MemoryLimitError, code `memory_limit`).
 */
export function capModuleMemory(bytes: Uint8Array, info: ModuleInfo, capPages: number): Uint8Array {
  if (info.memories.length === 0) return bytes;
  const patches: Array<{ start: number; end: number; data: number[] }> = [];
  for (const m of info.memories) {
    if (m.min > capPages) {
      throw new MemoryLimitError(
        `the module's initial memory (${m.min} pages = ${m.min * WASM_PAGE_BYTES} bytes) exceeds the run's memory limit of ${capPages * WASM_PAGE_BYTES} bytes`,
      );
    }
    const max = m.max === undefined ? capPages : Math.min(m.max, capPages);
    if (m.max === max) continue;
    patches.push({ start: m.start, end: m.end, data: [m.flags | 0x01, ...u32Leb(m.min), ...u32Leb(max)] });
  }
  if (patches.length === 0) return bytes;

  const chunks: Uint8Array[] = [bytes.subarray(0, 8)];
  for (const s of info.sections) {
    const inside = patches.filter((p) => p.start >= s.contentStart && p.end <= s.end);
    if (inside.length === 0) {
      chunks.push(bytes.subarray(s.start, s.end));
      continue;
    }
    const content: Uint8Array[] = [];
    let pos = s.contentStart;
    for (const p of inside.sort((a, b) => a.start - b.start)) {
      content.push(bytes.subarray(pos, p.start), Uint8Array.from(p.data));
      pos = p.end;
    }
    content.push(bytes.subarray(pos, s.end));
    const size = content.reduce((n, c) => n + c.byteLength, 0);
    chunks.push(Uint8Array.from([s.id, ...u32Leb(size)]), ...content);
  }
  return Buffer.concat(chunks);
}
