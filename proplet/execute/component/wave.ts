/**
 * WAVE (WebAssembly Value Encoding) text for component values: parsing a task's export arguments
 * and printing the export's result, typed by the component's own WIT (wit.ts).
 *
 * Syntax (as in wasm-tools' `wasm-wave`): `true`/`false`; integers `-12`; floats `1.5`, `-2e10`,
 * `nan`, `inf`, `-inf`; chars `'x'`; strings `"a\nb"` with escapes `\" \\ \' \n \r \t \u{1F600}`;
 * lists `[1, 2]`; tuples `(1, "a")`; records `{x: 1, y: 2}` (option fields may be left out:
 * `none`); variants `name(payload)` or `name`; enums `name`; options `some(x)` / `none`;
 * results `ok(x)`, `ok`, `err(e)`, `err`; flags `{read, write}`. A label that is also a keyword
 * (`true`, `none`, `ok`, …) is written with a `%` prefix (`%none`); any label may be.
 *
 * Values on the JS side follow jco's conventions (what the transpiled component takes and gives):
 * s64/u64 as bigint, record fields and flags in lowerCamelCase, variants as `{tag, val}` with the
 * WIT case name, enums as the case name, options as the value or `undefined`, results as
 * `{tag: "ok"|"err", val}`, tuples as arrays, lists of numbers as typed arrays.
 */
import { PropellerError } from "../../../protocol/errors.js";
import { camel, typeName, type WitType } from "./wit.js";

export class WaveError extends PropellerError {
  constructor(message: string) {
    super("invalid_inputs", message);
  }
}

// ---- untyped syntax -------------------------------------------------------------------------

export type WaveNode =
  | { k: "number"; text: string; at: number }
  | { k: "string"; value: string; at: number }
  | { k: "char"; value: string; at: number }
  | { k: "label"; name: string; escaped: boolean; payload: WaveNode | null; at: number }
  | { k: "list"; items: WaveNode[]; at: number }
  | { k: "tuple"; items: WaveNode[]; at: number }
  | { k: "record"; fields: Array<{ name: string; value: WaveNode }>; at: number }
  | { k: "flags"; names: string[]; at: number };

const LABEL = /^[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*/;
const NUMBER = /^-?(?:[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|inf)/;
const KEYWORDS = new Set(["true", "false", "some", "none", "ok", "err", "inf", "nan"]);
const MAX_DEPTH = 100;

class WaveParser {
  private pos = 0;
  private depth = 0;
  constructor(private readonly src: string) {}

  private fail(message: string, at = this.pos): never {
    throw new WaveError(`WAVE syntax error at character ${at + 1}: ${message}`);
  }
  private ws(): void {
    while (this.pos < this.src.length && /\s/.test(this.src[this.pos]!)) this.pos++;
  }
  private eat(c: string): boolean {
    this.ws();
    if (this.src.startsWith(c, this.pos)) {
      this.pos += c.length;
      return true;
    }
    return false;
  }
  private expect(c: string): void {
    if (!this.eat(c)) this.fail(`expected "${c}"${this.pos >= this.src.length ? " before the end" : `, found ${JSON.stringify(this.src[this.pos])}`}`);
  }
  get done(): boolean {
    this.ws();
    return this.pos >= this.src.length;
  }

  /** Comma-separated values up to the end (the argument list of a call). */
  values(): WaveNode[] {
    const out: WaveNode[] = [];
    if (this.done) return out;
    for (;;) {
      out.push(this.value());
      if (this.done) return out;
      this.expect(",");
      if (this.done) return out; // trailing comma
    }
  }

  value(): WaveNode {
    if (++this.depth > MAX_DEPTH) this.fail(`values nest deeper than ${MAX_DEPTH} levels`);
    try {
      this.ws();
      const at = this.pos;
      const c = this.src[this.pos];
      if (c === undefined) this.fail("expected a value before the end");
      if (c === '"') return { k: "string", value: this.quoted('"'), at };
      if (c === "'") {
        const value = this.quoted("'");
        if ([...value].length !== 1) this.fail("a char literal holds exactly one character", at);
        return { k: "char", value, at };
      }
      if (c === "[") {
        this.pos++;
        return { k: "list", items: this.seq("]"), at };
      }
      if (c === "(") {
        this.pos++;
        return { k: "tuple", items: this.seq(")"), at };
      }
      if (c === "{") return this.braces();
      const rest = this.src.slice(this.pos, this.pos + 400);
      if (c === "-" || (c >= "0" && c <= "9")) {
        const m = NUMBER.exec(rest);
        if (!m) this.fail("malformed number");
        this.pos += m[0].length;
        return { k: "number", text: m[0], at };
      }
      if (c === "%" || LABEL.test(rest)) {
        const { name, escaped } = this.label();
        if (!escaped && (name === "nan" || name === "inf")) return { k: "number", text: name, at };
        let payload: WaveNode | null = null;
        this.ws();
        if (this.src[this.pos] === "(") {
          this.pos++;
          payload = this.value();
          this.expect(")");
        }
        return { k: "label", name, escaped, payload, at };
      }
      this.fail(`unexpected ${JSON.stringify(c)}`);
    } finally {
      this.depth--;
    }
  }

  private label(): { name: string; escaped: boolean } {
    this.ws();
    const escaped = this.src[this.pos] === "%";
    if (escaped) this.pos++;
    const m = LABEL.exec(this.src.slice(this.pos, this.pos + 300));
    if (!m) this.fail("expected a label (kebab-case name)");
    this.pos += m[0].length;
    return { name: m[0], escaped };
  }

  private seq(close: string): WaveNode[] {
    const items: WaveNode[] = [];
    if (this.eat(close)) return items;
    for (;;) {
      items.push(this.value());
      if (this.eat(close)) return items;
      if (this.done) this.fail(`expected "${close}" before the end`);
      this.expect(",");
      if (this.eat(close)) return items;
    }
  }

  /** `{}`, `{a: 1, b: 2}` (record) or `{a, b}` (flags). */
  private braces(): WaveNode {
    const at = this.pos;
    this.pos++;
    if (this.eat("}")) return { k: "record", fields: [], at };
    const first = this.label();
    if (this.eat(":")) {
      const fields = [{ name: first.name, value: this.value() }];
      while (!this.eat("}")) {
        this.expect(",");
        if (this.eat("}")) break;
        const { name } = this.label();
        this.expect(":");
        fields.push({ name, value: this.value() });
      }
      return { k: "record", fields, at };
    }
    const names = [first.name];
    while (!this.eat("}")) {
      this.expect(",");
      if (this.eat("}")) break;
      names.push(this.label().name);
    }
    return { k: "flags", names, at };
  }

  private quoted(q: '"' | "'"): string {
    const start = this.pos;
    this.pos++;
    let out = "";
    for (;;) {
      const c = this.src[this.pos];
      if (c === undefined) this.fail(`unterminated ${q === '"' ? "string" : "char"}`, start);
      if (c === q) {
        this.pos++;
        return out;
      }
      if (c === "\n" || c === "\r") this.fail(`a line break inside a ${q === '"' ? "string" : "char"} must be written \\n`);
      if (c !== "\\") {
        const cp = this.src.codePointAt(this.pos)!;
        out += String.fromCodePoint(cp);
        this.pos += cp > 0xffff ? 2 : 1;
        continue;
      }
      const e = this.src[this.pos + 1];
      this.pos += 2;
      switch (e) {
        case "n":
          out += "\n";
          break;
        case "r":
          out += "\r";
          break;
        case "t":
          out += "\t";
          break;
        case "\\":
        case '"':
        case "'":
          out += e;
          break;
        case "u": {
          const m = /^\{([0-9A-Fa-f]{1,6})\}/.exec(this.src.slice(this.pos, this.pos + 8));
          if (!m) this.fail("\\u must be followed by {hex}", this.pos - 2);
          const cp = parseInt(m[1]!, 16);
          if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) this.fail(`\\u{${m[1]}} is not a Unicode scalar value`, this.pos - 2);
          out += String.fromCodePoint(cp);
          this.pos += m[0].length;
          break;
        }
        default:
          this.fail(`unknown escape \\${e ?? ""}`, this.pos - 2);
      }
    }
  }
}

/** Parses one WAVE value (untyped). */
export function parseWaveValue(text: string): WaveNode {
  const p = new WaveParser(text);
  const v = p.value();
  if (!p.done) throw new WaveError("WAVE syntax error: text after the value");
  return v;
}

/** Parses comma-separated WAVE values (untyped): an argument list. */
export function parseWaveList(text: string): WaveNode[] {
  return new WaveParser(text).values();
}

// ---- typed conversion: WAVE → JS (jco) -----------------------------------------------------------

const INT_RANGES: Record<string, [bigint, bigint]> = {
  s8: [-128n, 127n],
  u8: [0n, 255n],
  s16: [-32768n, 32767n],
  u16: [0n, 65535n],
  s32: [-(2n ** 31n), 2n ** 31n - 1n],
  u32: [0n, 2n ** 32n - 1n],
  s64: [-(2n ** 63n), 2n ** 63n - 1n],
  u64: [0n, 2n ** 64n - 1n],
};

const TYPED_ARRAYS: Record<string, { new (values: ArrayLike<number | bigint> | number): ArrayLike<unknown> }> = {
  u8: Uint8Array,
  s8: Int8Array,
  u16: Uint16Array,
  s16: Int16Array,
  u32: Uint32Array,
  s32: Int32Array,
  u64: BigUint64Array as never,
  s64: BigInt64Array as never,
  f32: Float32Array,
  f64: Float64Array,
};

function describe(node: WaveNode): string {
  switch (node.k) {
    case "number":
      return `the number ${node.text}`;
    case "string":
      return "a string";
    case "char":
      return "a char";
    case "label":
      return node.payload ? `${node.name}(…)` : `the label ${node.name}`;
    case "list":
      return "a list";
    case "tuple":
      return "a tuple";
    case "record":
      return "a record";
    case "flags":
      return "flags";
  }
}

/**
 * Converts an untyped WAVE value to the JS value jco expects for `type`. `what` names the value
 * in errors ("argument 2 (name)", "field x of …").
 */
export function toJs(node: WaveNode, type: WitType, what: string): unknown {
  const wrong = (detail?: string): never => {
    throw new WaveError(`${what}: expected ${typeName(type)}, got ${describe(node)}${detail ? ` (${detail})` : ""}`);
  };
  switch (type.kind) {
    case "bool":
      if (node.k === "label" && !node.escaped && !node.payload && (node.name === "true" || node.name === "false")) return node.name === "true";
      return wrong();
    case "s8":
    case "u8":
    case "s16":
    case "u16":
    case "s32":
    case "u32":
    case "s64":
    case "u64": {
      if (node.k !== "number" || !/^-?[0-9]+$/.test(node.text)) return wrong(node.k === "number" ? "not an integer" : undefined);
      const v = BigInt(node.text);
      const [min, max] = INT_RANGES[type.kind]!;
      if (v < min || v > max) throw new WaveError(`${what}: ${node.text} is out of range for ${type.kind} (${min} to ${max})`);
      return type.kind === "s64" || type.kind === "u64" ? v : Number(v);
    }
    case "f32":
    case "f64": {
      if (node.k !== "number") return wrong();
      if (node.text === "nan") return NaN;
      if (node.text === "inf") return Infinity;
      if (node.text === "-inf") return -Infinity;
      const v = Number(node.text);
      if (!Number.isFinite(v)) throw new WaveError(`${what}: ${node.text} is out of range for ${type.kind}`);
      if (type.kind === "f32" && Math.abs(v) > 3.4028234663852886e38) throw new WaveError(`${what}: ${node.text} is out of range for f32`);
      return v;
    }
    case "char":
      if (node.k !== "char") return wrong();
      return node.value;
    case "string":
      if (node.k !== "string") return wrong();
      return node.value;
    case "list": {
      if (node.k !== "list") return wrong();
      const items = node.items.map((n, i) => toJs(n, type.of, `${what}[${i}]`));
      const Typed = TYPED_ARRAYS[type.of.kind];
      return Typed ? new Typed(items as number[]) : items;
    }
    case "tuple": {
      if (node.k !== "tuple") return wrong();
      if (node.items.length !== type.of.length) return wrong(`${node.items.length} elements instead of ${type.of.length}`);
      return node.items.map((n, i) => toJs(n, type.of[i]!, `${what}.${i}`));
    }
    case "record": {
      if (node.k !== "record") return wrong();
      const given = new Map<string, WaveNode>();
      for (const f of node.fields) {
        if (given.has(f.name)) throw new WaveError(`${what}: field ${f.name} is given twice`);
        if (!type.fields.some((t) => t.name === f.name)) throw new WaveError(`${what}: ${typeName(type)} has no field ${f.name} (fields: ${type.fields.map((t) => t.name).join(", ")})`);
        given.set(f.name, f.value);
      }
      const out: Record<string, unknown> = {};
      for (const f of type.fields) {
        const v = given.get(f.name);
        if (v === undefined) {
          if (f.type.kind === "option") out[camel(f.name)] = undefined;
          else throw new WaveError(`${what}: field ${f.name} (${typeName(f.type)}) is missing`);
        } else out[camel(f.name)] = toJs(v, f.type, `${what}.${f.name}`);
      }
      return out;
    }
    case "variant": {
      if (node.k !== "label") return wrong();
      const c = type.cases.find((x) => x.name === node.name);
      if (!c) throw new WaveError(`${what}: ${typeName(type)} has no case ${node.name} (cases: ${type.cases.map((x) => x.name).join(", ")})`);
      if (c.type && !node.payload) throw new WaveError(`${what}: case ${c.name} of ${typeName(type)} needs a payload: ${c.name}(${typeName(c.type)})`);
      if (!c.type && node.payload) throw new WaveError(`${what}: case ${c.name} of ${typeName(type)} has no payload`);
      return c.type ? { tag: c.name, val: toJs(node.payload!, c.type, `${what}.${c.name}`) } : { tag: c.name };
    }
    case "enum": {
      if (node.k !== "label" || node.payload) return wrong();
      if (!type.cases.includes(node.name)) throw new WaveError(`${what}: ${typeName(type)} has no case ${node.name} (cases: ${type.cases.join(", ")})`);
      return node.name;
    }
    case "flags": {
      if (node.k === "record" && node.fields.length === 0) return Object.fromEntries(type.flags.map((f) => [camel(f), false]));
      if (node.k !== "flags") return wrong();
      const set = new Set<string>();
      for (const n of node.names) {
        if (!type.flags.includes(n)) throw new WaveError(`${what}: ${typeName(type)} has no flag ${n} (flags: ${type.flags.join(", ")})`);
        if (set.has(n)) throw new WaveError(`${what}: flag ${n} is given twice`);
        set.add(n);
      }
      return Object.fromEntries(type.flags.map((f) => [camel(f), set.has(f)]));
    }
    case "option": {
      if (node.k !== "label" || node.escaped) return wrong("write some(value) or none");
      if (node.name === "none" && !node.payload) return type.of.kind === "option" ? undefined : undefined;
      if (node.name === "some" && node.payload) {
        const inner = toJs(node.payload, type.of, `${what}.some`);
        // jco writes an option directly inside an option as {tag, val}
        return type.of.kind === "option" ? (inner === undefined ? { tag: "none" } : { tag: "some", val: inner }) : inner;
      }
      return wrong("write some(value) or none");
    }
    case "result": {
      if (node.k !== "label" || node.escaped || (node.name !== "ok" && node.name !== "err")) return wrong("write ok(value) or err(value)");
      const payloadType = node.name === "ok" ? type.ok : type.err;
      if (payloadType && !node.payload) throw new WaveError(`${what}: ${node.name} of ${typeName(type)} needs a payload`);
      if (!payloadType && node.payload) throw new WaveError(`${what}: ${node.name} of ${typeName(type)} has no payload`);
      return { tag: node.name, val: payloadType ? toJs(node.payload!, payloadType, `${what}.${node.name}`) : undefined };
    }
    case "handle":
    case "future":
    case "stream":
      throw new WaveError(`${what}: ${typeName(type)} values cannot be written as text`);
  }
}

/** Parses a call's WAVE argument list against the function's parameters. */
export function parseArgs(text: string, params: ReadonlyArray<{ name: string; type: WitType }>, fn: string): unknown[] {
  const nodes = parseWaveList(text);
  if (nodes.length !== params.length) {
    throw new WaveError(`${fn} takes ${params.length} argument(s) (${params.map((p) => `${p.name}: ${typeName(p.type)}`).join(", ") || "none"}), got ${nodes.length}`);
  }
  return nodes.map((n, i) => toJs(n, params[i]!.type, `argument ${i + 1} (${params[i]!.name}) of ${fn}`));
}

// ---- printing: JS (jco) → WAVE ------------------------------------------------------------------

function printLabel(name: string): string {
  return KEYWORDS.has(name) ? `%${name}` : name;
}

function printString(s: string, q: '"' | "'"): string {
  let out = q;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === "\\") out += "\\\\";
    else if (ch === q) out += `\\${q}`;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (cp < 0x20 || cp === 0x7f) out += `\\u{${cp.toString(16)}}`;
    else out += ch;
  }
  return out + q;
}

function printFloat(v: number): string {
  if (Number.isNaN(v)) return "nan";
  if (v === Infinity) return "inf";
  if (v === -Infinity) return "-inf";
  if (Object.is(v, -0)) return "-0";
  return String(v).replace("e+", "e");
}

class PrintError extends PropellerError {
  constructor(message: string) {
    super("result_invalid", message);
  }
}

/** Renders a JS value (as jco returns it) of WIT type `type` as WAVE text. */
export function toWave(value: unknown, type: WitType): string {
  const wrong = (): never => {
    throw new PrintError(`the component returned ${typeof value} where ${typeName(type)} was expected`);
  };
  switch (type.kind) {
    case "bool":
      return typeof value === "boolean" ? String(value) : wrong();
    case "s8":
    case "u8":
    case "s16":
    case "u16":
    case "s32":
    case "u32":
    case "s64":
    case "u64":
      return typeof value === "number" || typeof value === "bigint" ? String(value) : wrong();
    case "f32":
    case "f64":
      return typeof value === "number" ? printFloat(value) : wrong();
    case "char":
      return typeof value === "string" ? printString(value, "'") : wrong();
    case "string":
      return typeof value === "string" ? printString(value, '"') : wrong();
    case "list": {
      if (!Array.isArray(value) && !ArrayBuffer.isView(value)) return wrong();
      return `[${Array.from(value as ArrayLike<unknown>, (v) => toWave(v, type.of)).join(", ")}]`;
    }
    case "tuple": {
      if (!Array.isArray(value) || value.length !== type.of.length) return wrong();
      return `(${value.map((v, i) => toWave(v, type.of[i]!)).join(", ")})`;
    }
    case "record": {
      if (typeof value !== "object" || value === null) return wrong();
      const r = value as Record<string, unknown>;
      const fields = type.fields.map((f) => `${f.name}: ${toWave(r[camel(f.name)], f.type)}`);
      return `{${fields.join(", ")}}`;
    }
    case "variant": {
      const v = value as { tag?: unknown; val?: unknown } | null;
      const c = type.cases.find((x) => x.name === v?.tag);
      if (!c) return wrong();
      return c.type ? `${printLabel(c.name)}(${toWave(v!.val, c.type)})` : printLabel(c.name);
    }
    case "enum":
      return typeof value === "string" && type.cases.includes(value) ? printLabel(value) : wrong();
    case "flags": {
      if (typeof value !== "object" || value === null) return wrong();
      const r = value as Record<string, unknown>;
      return `{${type.flags.filter((f) => r[camel(f)] === true).map(printLabel).join(", ")}}`;
    }
    case "option": {
      if (type.of.kind === "option") {
        const v = value as { tag?: unknown; val?: unknown } | undefined | null;
        if (v === undefined || v === null) return "none";
        return v.tag === "some" ? `some(${toWave(v.val, type.of)})` : v.tag === "none" ? "some(none)" : wrong();
      }
      return value === undefined || value === null ? "none" : `some(${toWave(value, type.of)})`;
    }
    case "result": {
      const v = value as { tag?: unknown; val?: unknown } | null;
      if (v?.tag === "ok") return type.ok ? `ok(${toWave(v.val, type.ok)})` : "ok";
      if (v?.tag === "err") return type.err ? `err(${toWave(v.val, type.err)})` : "err";
      return wrong();
    }
    case "handle":
    case "future":
    case "stream":
      return `<${typeName(type)}>`;
  }
}
