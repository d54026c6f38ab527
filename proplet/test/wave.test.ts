/** WAVE text ↔ jco values, typed by WIT (pure functions: no mocks needed). */
import { describe, expect, it } from "vitest";
import { parseArgs, parseWaveValue, toJs, toWave, WaveError } from "../execute/component/wave.js";
import type { WitType } from "../execute/component/wit.js";

const T = {
  bool: { kind: "bool" } as WitType,
  s8: { kind: "s8" } as WitType,
  u8: { kind: "u8" } as WitType,
  s16: { kind: "s16" } as WitType,
  u16: { kind: "u16" } as WitType,
  s32: { kind: "s32" } as WitType,
  u32: { kind: "u32" } as WitType,
  s64: { kind: "s64" } as WitType,
  u64: { kind: "u64" } as WitType,
  f32: { kind: "f32" } as WitType,
  f64: { kind: "f64" } as WitType,
  char: { kind: "char" } as WitType,
  string: { kind: "string" } as WitType,
};
const list = (of: WitType): WitType => ({ kind: "list", of });
const option = (of: WitType): WitType => ({ kind: "option", of });
const result = (ok: WitType | null, err: WitType | null): WitType => ({ kind: "result", ok, err });
const tuple = (...of: WitType[]): WitType => ({ kind: "tuple", of });
const point: WitType = { kind: "record", name: "point", fields: [{ name: "x", type: T.s32 }, { name: "y-pos", type: T.s32 }, { name: "label", type: option(T.string) }] };
const shape: WitType = { kind: "variant", name: "shape", cases: [{ name: "circle", type: T.f64 }, { name: "square", type: T.u32 }, { name: "empty", type: null }, { name: "none", type: null }] };
const color: WitType = { kind: "enum", name: "color", cases: ["red", "dark-green", "ok"] };
const perms: WitType = { kind: "flags", name: "perms", flags: ["read", "write", "exec-all"] };

const js = (text: string, type: WitType) => toJs(parseWaveValue(text), type, "value");
const roundTrip = (text: string, type: WitType) => toWave(js(text, type), type);

describe("WAVE: every WIT value kind, both ways", () => {
  it("bool", () => {
    expect(js("true", T.bool)).toBe(true);
    expect(js(" false ", T.bool)).toBe(false);
    expect(toWave(true, T.bool)).toBe("true");
    expect(() => js("1", T.bool)).toThrow("value: expected bool, got the number 1");
    expect(() => js("%true", T.bool)).toThrow(WaveError);
  });

  it.each([
    ["s8", "-128", "127", "-129", "128"],
    ["u8", "0", "255", "-1", "256"],
    ["s16", "-32768", "32767", "-32769", "32768"],
    ["u16", "0", "65535", "-1", "65536"],
    ["s32", "-2147483648", "2147483647", "-2147483649", "2147483648"],
    ["u32", "0", "4294967295", "-1", "4294967296"],
    ["s64", "-9223372036854775808", "9223372036854775807", "-9223372036854775809", "9223372036854775808"],
    ["u64", "0", "18446744073709551615", "-1", "18446744073709551616"],
  ] as const)("%s: range %s..%s is accepted, beyond is refused", (kind, min, max, under, over) => {
    const t = T[kind];
    expect(roundTrip(min, t)).toBe(min);
    expect(roundTrip(max, t)).toBe(max);
    expect(() => js(under, t)).toThrow(`value: ${under} is out of range for ${kind}`);
    expect(() => js(over, t)).toThrow(`value: ${over} is out of range for ${kind}`);
    expect(() => js("1.5", t)).toThrow(`expected ${kind}, got the number 1.5 (not an integer)`);
  });

  it("64-bit integers are bigints (no precision lost), 32-bit ones numbers", () => {
    expect(js("9007199254740993", T.u64)).toBe(9007199254740993n);
    expect(js("-7", T.s32)).toBe(-7);
  });

  it("floats: decimals, exponents, nan, inf, -inf; f32 range", () => {
    expect(js("1.5", T.f64)).toBe(1.5);
    expect(js("-2e3", T.f64)).toBe(-2000);
    expect(js("42", T.f32)).toBe(42);
    expect(Number.isNaN(js("nan", T.f64))).toBe(true);
    expect(js("inf", T.f64)).toBe(Infinity);
    expect(js("-inf", T.f32)).toBe(-Infinity);
    expect(toWave(NaN, T.f64)).toBe("nan");
    expect(toWave(-Infinity, T.f64)).toBe("-inf");
    expect(toWave(1e21, T.f64)).toBe("1e21");
    expect(toWave(0.25, T.f32)).toBe("0.25");
    expect(() => js("1e39", T.f32)).toThrow("out of range for f32");
    expect(() => js("1e999", T.f64)).toThrow("out of range for f64");
    expect(() => js('"1"', T.f64)).toThrow("expected f64, got a string");
  });

  it("char: one Unicode scalar, with escapes", () => {
    expect(js("'a'", T.char)).toBe("a");
    expect(js("'😀'", T.char)).toBe("😀");
    expect(js("'\\u{1F600}'", T.char)).toBe("😀");
    expect(js("'\\''", T.char)).toBe("'");
    expect(toWave("'", T.char)).toBe("'\\''");
    expect(toWave("\n", T.char)).toBe("'\\n'");
    expect(() => parseWaveValue("'ab'")).toThrow("exactly one character");
    expect(() => js('"a"', T.char)).toThrow("expected char, got a string");
  });

  it("string: escapes both ways", () => {
    const text = '"quote \\" backslash \\\\ tab \\t nl \\n cr \\r apos \\\' emoji \\u{1f600} bell \\u{7}"';
    const value = js(text, T.string);
    expect(value).toBe("quote \" backslash \\ tab \t nl \n cr \r apos ' emoji 😀 bell \u0007");
    expect(toWave(value, T.string)).toBe('"quote \\" backslash \\\\ tab \\t nl \\n cr \\r apos \' emoji 😀 bell \\u{7}"');
    expect(js(toWave(value, T.string), T.string)).toBe(value);
    expect(() => parseWaveValue('"open')).toThrow("unterminated string");
    expect(() => parseWaveValue('"\\x"')).toThrow("unknown escape \\x");
    expect(() => parseWaveValue('"\\u{D800}"')).toThrow("not a Unicode scalar value");
    expect(() => parseWaveValue('"a\nb"')).toThrow("line break");
  });

  it("list: numbers as typed arrays (jco's form), others as arrays; trailing comma", () => {
    expect(js("[1, 2, 3]", list(T.s32))).toEqual(new Int32Array([1, 2, 3]));
    expect(js("[1, 2,]", list(T.u8))).toEqual(new Uint8Array([1, 2]));
    expect(js("[1]", list(T.u64))).toEqual(new BigUint64Array([1n]));
    expect(js('["a", "b"]', list(T.string))).toEqual(["a", "b"]);
    expect(js("[]", list(T.string))).toEqual([]);
    expect(toWave(new Int32Array([1, -2]), list(T.s32))).toBe("[1, -2]");
    expect(toWave([[1], []], list(list(T.u8)))).toBe("[[1], []]");
    expect(() => js("[1, 256]", list(T.u8))).toThrow("value[1]: 256 is out of range for u8");
    expect(() => js("(1, 2)", list(T.u8))).toThrow("expected list<u8>, got a tuple");
  });

  it("tuple", () => {
    const t = tuple(T.string, T.u8, T.bool);
    expect(js('("a", 1, true)', t)).toEqual(["a", 1, true]);
    expect(toWave(["a", 1, true], t)).toBe('("a", 1, true)');
    expect(() => js('("a", 1)', t)).toThrow("2 elements instead of 3");
    expect(() => js('("a", 1, 2)', t)).toThrow("value.2: expected bool");
  });

  it("record: kebab-case fields as camelCase, optional fields may be left out", () => {
    expect(js('{x: 1, y-pos: -2, label: some("p")}', point)).toEqual({ x: 1, yPos: -2, label: "p" });
    expect(js("{y-pos: 2, x: 1}", point)).toEqual({ x: 1, yPos: 2, label: undefined });
    expect(toWave({ x: 1, yPos: 2, label: undefined }, point)).toBe("{x: 1, y-pos: 2, label: none}");
    expect(() => js("{x: 1}", point)).toThrow("value: field y-pos (s32) is missing");
    expect(() => js("{x: 1, y-pos: 2, z: 3}", point)).toThrow("record point has no field z (fields: x, y-pos, label)");
    expect(() => js("{x: 1, x: 2, y-pos: 3}", point)).toThrow("field x is given twice");
    expect(() => js('{x: "1", y-pos: 2}', point)).toThrow("value.x: expected s32, got a string");
  });

  it("variant: name(payload) or name; % escapes a keyword label", () => {
    expect(js("circle(1.5)", shape)).toEqual({ tag: "circle", val: 1.5 });
    expect(js("%circle(2)", shape)).toEqual({ tag: "circle", val: 2 });
    expect(js("empty", shape)).toEqual({ tag: "empty" });
    expect(js("%none", shape)).toEqual({ tag: "none" });
    expect(toWave({ tag: "square", val: 3 }, shape)).toBe("square(3)");
    expect(toWave({ tag: "none" }, shape)).toBe("%none");
    expect(() => js("circle", shape)).toThrow("case circle of variant shape needs a payload: circle(f64)");
    expect(() => js("empty(1)", shape)).toThrow("case empty of variant shape has no payload");
    expect(() => js("triangle", shape)).toThrow("variant shape has no case triangle (cases: circle, square, empty, none)");
  });

  it("enum", () => {
    expect(js("dark-green", color)).toBe("dark-green");
    expect(js("%ok", color)).toBe("ok");
    expect(toWave("ok", color)).toBe("%ok");
    expect(toWave("red", color)).toBe("red");
    expect(() => js("blue", color)).toThrow("enum color has no case blue (cases: red, dark-green, ok)");
    expect(() => js("red(1)", color)).toThrow("expected enum color, got red(…)");
  });

  it("option", () => {
    expect(js("some(3)", option(T.u8))).toBe(3);
    expect(js("none", option(T.u8))).toBeUndefined();
    expect(toWave(3, option(T.u8))).toBe("some(3)");
    expect(toWave(undefined, option(T.u8))).toBe("none");
    // an option inside an option: jco's {tag, val}
    expect(js("some(none)", option(option(T.u8)))).toEqual({ tag: "none" });
    expect(js("some(some(1))", option(option(T.u8)))).toEqual({ tag: "some", val: 1 });
    expect(toWave({ tag: "some", val: 1 }, option(option(T.u8)))).toBe("some(some(1))");
    expect(() => js("3", option(T.u8))).toThrow("expected option<u8>, got the number 3 (write some(value) or none)");
    expect(() => js("%none", option(T.u8))).toThrow(WaveError);
  });

  it("result: ok/err with and without payloads", () => {
    const r = result(T.u32, T.string);
    expect(js("ok(1)", r)).toEqual({ tag: "ok", val: 1 });
    expect(js('err("no")', r)).toEqual({ tag: "err", val: "no" });
    expect(js("ok", result(null, T.string))).toEqual({ tag: "ok", val: undefined });
    expect(js("err", result(T.u8, null))).toEqual({ tag: "err", val: undefined });
    expect(toWave({ tag: "err", val: "no" }, r)).toBe('err("no")');
    expect(toWave({ tag: "ok" }, result(null, null))).toBe("ok");
    expect(() => js("ok", r)).toThrow("ok of result<u32, string> needs a payload");
    expect(() => js("ok(1)", result(null, null))).toThrow("has no payload");
    expect(() => js("maybe(1)", r)).toThrow("write ok(value) or err(value)");
  });

  it("flags: {a, b}, {} for none, camelCase on the JS side", () => {
    expect(js("{read, exec-all}", perms)).toEqual({ read: true, write: false, execAll: true });
    expect(js("{}", perms)).toEqual({ read: false, write: false, execAll: false });
    expect(toWave({ read: true, write: true, execAll: false }, perms)).toBe("{read, write}");
    expect(toWave({ read: false, write: false, execAll: false }, perms)).toBe("{}");
    expect(() => js("{read, read}", perms)).toThrow("flag read is given twice");
    expect(() => js("{delete}", perms)).toThrow("flags perms has no flag delete (flags: read, write, exec-all)");
  });

  it("nested values round-trip", () => {
    const t = list(tuple(option(point), result(list(shape), color)));
    const text = '[(some({x: 1, y-pos: 2, label: none}), ok([circle(0.5), empty])), (none, err(dark-green))]';
    expect(roundTrip(text, t)).toBe(text);
  });
});

describe("WAVE argument lists", () => {
  const params = [
    { name: "name", type: T.string },
    { name: "n", type: T.s32 },
    { name: "xs", type: list(T.u8) },
    { name: "p", type: point },
  ];

  it("parses the arguments of a call, typed by the parameters", () => {
    expect(parseArgs('"hello", 42, [1, 2], {x: 1, y-pos: 2}', params, "f")).toEqual(["hello", 42, new Uint8Array([1, 2]), { x: 1, yPos: 2, label: undefined }]);
    expect(parseArgs("", [], "g")).toEqual([]);
  });

  it("a wrong type names the parameter, its position and the expected type", () => {
    expect(() => parseArgs('"hello", "42", [1], {x: 1, y-pos: 2}', params, "f")).toThrow('argument 2 (n) of f: expected s32, got a string');
    expect(() => parseArgs('"hello", 1, [1], {x: 1, y-pos: true}', params, "f")).toThrow("argument 4 (p) of f.y-pos: expected s32, got the label true");
  });

  it("a wrong count lists the signature", () => {
    expect(() => parseArgs('"a"', params, "f")).toThrow("f takes 4 argument(s) (name: string, n: s32, xs: list<u8>, p: record point), got 1");
  });

  it("syntax errors say where", () => {
    expect(() => parseArgs("1 2", params, "f")).toThrow("WAVE syntax error at character 3");
    expect(() => parseArgs("[1, 2", params, "f")).toThrow('expected "]" before the end');
    expect(() => parseArgs("@", params, "f")).toThrow("unexpected");
    expect(() => parseArgs("[".repeat(200), params, "f")).toThrow("nest deeper than");
  });

  it("errors are invalid_inputs", () => {
    try {
      parseArgs("x", [{ name: "n", type: T.u8 }], "f");
      expect.unreachable();
    } catch (err) {
      expect((err as WaveError).code).toBe("invalid_inputs");
    }
  });
});
