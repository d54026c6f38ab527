/** Reading exported function types from WIT as `wasm-tools component wit` prints it. */
import { describe, expect, it } from "vitest";
import { camel, exportedFunctions, WitError } from "../execute/component/wit.js";

const WIT = `package root:component;

world root {
  import wasi:cli/environment@0.2.12;
  use my:lib/types@1.0.0.{shape as figure};

  record point {
    x: s32,
    y: s32,
  }
  flags perms { read, write }

  /// documented
  @since(version = 0.2.0)
  export add: func(a: s32, b: s32) -> s32;
  export draw: func(p: point, f: figure, opts: option<list<tuple<u8, string>>>) -> result<_, string>;
  export nothing: func();
  export my:lib/api@1.0.0;
}
package my:lib@1.0.0 {
  interface types {
    variant shape { circle(f64), none }
    type size = u64;
    enum mode { fast, slow }
    resource handle { constructor(); get: func() -> u32; }
  }
  interface api {
    use types.{size, mode};
    measure: func(s: size, m: mode) -> tuple<size, float32>;
    /* block comment */
    reset: async func();
  }
}
package wasi:cli@0.2.12 {
  interface environment {
    get-environment: func() -> list<tuple<string, string>>;
  }
}
`;

describe("WIT export types", () => {
  const fns = exportedFunctions(WIT);

  it("world-level functions, with records, flags, used types, options, lists, tuples and results resolved", () => {
    expect(fns.get("add")).toEqual({ name: "add", params: [{ name: "a", type: { kind: "s32" } }, { name: "b", type: { kind: "s32" } }], result: { kind: "s32" }, path: ["add"] });
    const draw = fns.get("draw")!;
    expect(draw.params[0]!.type).toEqual({ kind: "record", name: "point", fields: [{ name: "x", type: { kind: "s32" } }, { name: "y", type: { kind: "s32" } }] });
    expect(draw.params[1]!.type).toEqual({ kind: "variant", name: "shape", cases: [{ name: "circle", type: { kind: "f64" } }, { name: "none", type: null }] });
    expect(draw.params[2]!.type).toEqual({ kind: "option", of: { kind: "list", of: { kind: "tuple", of: [{ kind: "u8" }, { kind: "string" }] } } });
    expect(draw.result).toEqual({ kind: "result", ok: null, err: { kind: "string" } });
    expect(fns.get("nothing")!.result).toBeNull();
  });

  it("functions of an exported interface, by full and short name, with jco's instance path", () => {
    const measure = fns.get("my:lib/api@1.0.0#measure")!;
    expect(measure.path).toEqual(["my:lib/api@1.0.0", "measure"]);
    expect(measure.params).toEqual([
      { name: "s", type: { kind: "u64" } },
      { name: "m", type: { kind: "enum", name: "mode", cases: ["fast", "slow"] } },
    ]);
    expect(measure.result).toEqual({ kind: "tuple", of: [{ kind: "u64" }, { kind: "f32" }] });
    expect(fns.get("api#reset")!.path).toEqual(["my:lib/api@1.0.0", "reset"]);
    expect(fns.has("get-environment")).toBe(false); // imports are not callable
  });

  it("reads the example component's WIT", async () => {
    const { readFile } = await import("node:fs/promises");
    const { join } = await import("node:path");
    const { EXAMPLES_DIR } = await import("../../testing/paths.js");
    const text = await readFile(join(EXAMPLES_DIR, "components/calc/calc.wit"), "utf8");
    const calc = exportedFunctions(text);
    expect([...calc.keys()]).toEqual(["add", "greet", "sum", "sign-of", "manhattan", "checked-div", "first", "boom", "grow", "spin"]);
    expect(calc.get("sign-of")!.path).toEqual(["signOf"]);
  });

  it("bad WIT is a WitError naming the line", () => {
    expect(() => exportedFunctions("package a:b;\nworld w {\n  export f: func(x: nope) -> u8;\n}")).toThrow("type nope is not defined");
    expect(() => exportedFunctions("package a:b;\nworld w {\n  export f: func(x: u8 -> u8;\n}")).toThrow(WitError);
    expect(() => exportedFunctions("package a:b;\nworld w {\n  ???\n}")).toThrow(/WIT line 3/);
  });

  it("camelCase as jco names things", () => {
    expect(camel("sign-of")).toBe("signOf");
    expect(camel("HTTP-request-URI")).toBe("httpRequestUri");
    expect(camel("add")).toBe("add");
  });
});
