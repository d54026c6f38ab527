/**
 * A reader of WIT text as `wasm-tools component wit` prints a component's world (jco's
 * `componentWit`), for one purpose: the types of the component's exported functions, so the
 * export entrypoint can convert WAVE arguments and render the result.
 *
 * Understood: packages (`package a:b@v;` and nested `package a:b@v { … }`), interfaces, worlds,
 * `use` (local and qualified), `include`, records, variants, enums, flags, type aliases, resources
 * (as opaque handles), functions (`func`, `async func`), attributes (`@since(…)` and the like) and
 * comments. Anything else is a `WitError` naming the line.
 */
import { PropellerError } from "../../../protocol/errors.js";

export class WitError extends PropellerError {
  constructor(message: string) {
    super("invalid_component", message);
  }
}

export type PrimitiveKind = "bool" | "s8" | "s16" | "s32" | "s64" | "u8" | "u16" | "u32" | "u64" | "f32" | "f64" | "char" | "string";
export type WitType =
  | { kind: PrimitiveKind }
  | { kind: "list"; of: WitType }
  | { kind: "option"; of: WitType }
  | { kind: "result"; ok: WitType | null; err: WitType | null }
  | { kind: "tuple"; of: WitType[] }
  | { kind: "record"; name: string; fields: Array<{ name: string; type: WitType }> }
  | { kind: "variant"; name: string; cases: Array<{ name: string; type: WitType | null }> }
  | { kind: "enum"; name: string; cases: string[] }
  | { kind: "flags"; name: string; flags: string[] }
  | { kind: "handle"; name: string }
  | { kind: "future" | "stream"; name: string };

export interface WitFunction {
  /** As the task names it: `add` for a world export, `iface#fn` / `ns:pkg/iface@v#fn` for an interface's. */
  name: string;
  params: Array<{ name: string; type: WitType }>;
  result: WitType | null;
  /** Where jco puts it on the instance: `["add"]` or `["ns:pkg/iface@v", "fn"]`. */
  path: string[];
}

const PRIMITIVES = new Set<string>(["bool", "s8", "s16", "s32", "s64", "u8", "u16", "u32", "u64", "f32", "f64", "char", "string"]);
const ALIASES: Record<string, PrimitiveKind> = { float32: "f32", float64: "f64" };

// ---- tokens ---------------------------------------------------------------------------------

interface Token {
  t: "id" | "punct" | "version" | "eof";
  v: string;
  line: number;
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let line = 1;
  let afterAt = false;
  while (i < src.length) {
    const c = src[i]!;
    if (c === "\n") {
      line++;
      i++;
      continue;
    }
    if (c === " " || c === "\t" || c === "\r") {
      i++;
      continue;
    }
    if (src.startsWith("//", i)) {
      while (i < src.length && src[i] !== "\n") i++;
      continue;
    }
    if (src.startsWith("/*", i)) {
      const end = src.indexOf("*/", i + 2);
      if (end < 0) throw new WitError(`WIT line ${line}: unterminated comment`);
      for (let k = i; k < end; k++) if (src[k] === "\n") line++;
      i = end + 2;
      continue;
    }
    if (afterAt) {
      // A version after `@`: 1.2.3 with optional -pre and +build parts.
      const m = /^[0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?/.exec(src.slice(i, i + 200));
      afterAt = false;
      if (m) {
        out.push({ t: "version", v: m[0], line });
        i += m[0].length;
        continue;
      }
    }
    if (src.startsWith("->", i)) {
      out.push({ t: "punct", v: "->", line });
      i += 2;
      continue;
    }
    if ("{}()<>,:;.=/@*_".includes(c) && !(c === "_" && /[A-Za-z0-9]/.test(src[i + 1] ?? ""))) {
      out.push({ t: "punct", v: c, line });
      if (c === "@") afterAt = true;
      i++;
      continue;
    }
    const m = /^%?[A-Za-z_][A-Za-z0-9_-]*|^[0-9]+/.exec(src.slice(i, i + 300));
    if (!m) throw new WitError(`WIT line ${line}: unexpected character ${JSON.stringify(c)}`);
    out.push({ t: "id", v: m[0].startsWith("%") ? m[0].slice(1) : m[0], line });
    i += m[0].length;
  }
  out.push({ t: "eof", v: "", line });
  return out;
}

// ---- syntax ---------------------------------------------------------------------------------

type TypeExpr =
  | { k: "named"; name: string }
  | { k: "generic"; name: string; args: Array<TypeExpr | null> }
  | { k: "tuple"; of: TypeExpr[] };

type TypeDef =
  | { k: "record"; name: string; fields: Array<{ name: string; type: TypeExpr }> }
  | { k: "variant"; name: string; cases: Array<{ name: string; type: TypeExpr | null }> }
  | { k: "enum"; name: string; cases: string[] }
  | { k: "flags"; name: string; flags: string[] }
  | { k: "alias"; name: string; type: TypeExpr }
  | { k: "resource"; name: string };

interface FuncDecl {
  name: string;
  params: Array<{ name: string; type: TypeExpr }>;
  result: TypeExpr | null;
}

/** A scope: an interface or a world. Types it defines or `use`s, and its functions. */
interface Scope {
  pkg: string; // ns:name@version
  name: string;
  types: Map<string, TypeDef>;
  uses: Map<string, { from: string; name: string }>; // local name → (interface ref, name there)
  funcs: FuncDecl[];
}

interface World extends Scope {
  exportFuncs: FuncDecl[];
  exportInterfaces: string[]; // references, resolved later
  inlineExports: Map<string, Scope>;
}

class Parser {
  private pos = 0;
  readonly interfaces = new Map<string, Scope>(); // "ns:pkg/name@v" → scope
  readonly worlds: World[] = [];

  constructor(private readonly tokens: Token[]) {}

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.pos + offset, this.tokens.length - 1)]!;
  }
  private next(): Token {
    const tok = this.peek();
    if (tok.t !== "eof") this.pos++;
    return tok;
  }
  private fail(message: string): never {
    throw new WitError(`WIT line ${this.peek().line}: ${message} (at ${JSON.stringify(this.peek().v || "end")})`);
  }
  private is(v: string): boolean {
    const tok = this.peek();
    return (tok.t === "punct" || tok.t === "id") && tok.v === v;
  }
  private eat(v: string): boolean {
    if (this.is(v)) {
      this.pos++;
      return true;
    }
    return false;
  }
  private expect(v: string): void {
    if (!this.eat(v)) this.fail(`expected "${v}"`);
  }
  private ident(): string {
    const tok = this.next();
    if (tok.t !== "id") {
      this.pos--;
      this.fail("expected a name");
    }
    return tok.v;
  }
  private skipAttributes(): void {
    while (this.is("@") && this.peek(1).t === "id") {
      this.next();
      this.next();
      if (this.eat("(")) {
        let depth = 1;
        while (depth > 0) {
          const tok = this.next();
          if (tok.t === "eof") this.fail("unterminated attribute");
          if (tok.v === "(") depth++;
          else if (tok.v === ")") depth--;
        }
      }
    }
  }

  /** ns:name@version, or ns:name */
  private packageName(): string {
    const ns = this.ident();
    this.expect(":");
    let name = this.ident();
    while (this.is(":") && this.peek(1).t === "id") {
      this.next();
      name += ":" + this.ident();
    }
    return `${ns}:${name}${this.version()}`;
  }
  private version(): string {
    if (!this.eat("@")) return "";
    const tok = this.next();
    if (tok.t !== "version") this.fail("expected a version");
    return `@${tok.v}`;
  }

  /** A reference to an interface: a local name, or ns:pkg/name@v. Returned as written (resolved later). */
  private interfaceRef(pkg: string): string {
    if (this.peek(1).v === ":" && this.peek(1).t === "punct") {
      const ns = this.ident();
      this.expect(":");
      let pname = this.ident();
      while (this.is(":")) {
        this.next();
        pname += ":" + this.ident();
      }
      this.expect("/");
      const iname = this.ident();
      return `${ns}:${pname}/${iname}${this.version()}`;
    }
    const local = this.ident();
    return `${pkgBase(pkg)}/${local}${pkgVersion(pkg)}`;
  }

  parseFile(): void {
    let pkg = "root:component";
    this.skipAttributes();
    if (this.eat("package")) {
      const name = this.packageName();
      if (this.eat("{")) {
        this.items(name, "}");
        this.expect("}");
      } else {
        this.expect(";");
        pkg = name;
      }
    }
    this.items(pkg, "eof");
  }

  private items(pkg: string, end: "}" | "eof"): void {
    for (;;) {
      this.skipAttributes();
      const tok = this.peek();
      if (tok.t === "eof" || (end === "}" && this.is("}"))) return;
      if (this.eat("package")) {
        const name = this.packageName();
        this.expect("{");
        this.items(name, "}");
        this.expect("}");
      } else if (this.eat("interface")) {
        const name = this.ident();
        this.expect("{");
        const scope = this.scopeBody(pkg, name);
        this.interfaces.set(`${pkgBase(pkg)}/${name}${pkgVersion(pkg)}`, scope);
      } else if (this.eat("world")) {
        this.world(pkg);
      } else if (this.eat("use")) {
        // top-level `use a:b/c as d;`: no types come from it
        while (!this.eat(";")) if (this.next().t === "eof") this.fail("unterminated use");
      } else this.fail("expected package, interface or world");
    }
  }

  /** The inside of `interface x { … }` after the brace; consumes the closing brace. */
  private scopeBody(pkg: string, name: string): Scope {
    const scope: Scope = { pkg, name, types: new Map(), uses: new Map(), funcs: [] };
    for (;;) {
      this.skipAttributes();
      if (this.eat("}")) return scope;
      if (this.peek().t === "eof") this.fail("unterminated interface");
      if (this.eat("use")) this.use(pkg, scope);
      else if (this.typeDef(scope)) continue;
      else {
        const fname = this.ident();
        this.expect(":");
        scope.funcs.push({ name: fname, ...this.func() });
        this.expect(";");
      }
    }
  }

  private use(pkg: string, scope: Scope): void {
    const from = this.interfaceRef(pkg);
    this.expect(".");
    this.expect("{");
    do {
      if (this.is("}")) break;
      const name = this.ident();
      const local = this.eat("as") ? this.ident() : name;
      scope.uses.set(local, { from, name });
    } while (this.eat(","));
    this.expect("}");
    this.expect(";");
  }

  /** Parses a type definition if one starts here. */
  private typeDef(scope: Scope): boolean {
    const tok = this.peek();
    if (tok.t !== "id" || this.peek(1).t !== "id") return false;
    const kw = tok.v;
    if (!["record", "variant", "enum", "flags", "type", "resource"].includes(kw)) return false;
    this.next();
    const name = this.ident();
    let def: TypeDef;
    if (kw === "type") {
      this.expect("=");
      def = { k: "alias", name, type: this.type() };
      this.expect(";");
    } else if (kw === "resource") {
      def = { k: "resource", name };
      if (this.eat("{")) {
        let depth = 1;
        while (depth > 0) {
          const t = this.next();
          if (t.t === "eof") this.fail("unterminated resource");
          if (t.v === "{") depth++;
          else if (t.v === "}") depth--;
        }
      } else this.expect(";");
    } else {
      this.expect("{");
      if (kw === "record") {
        const fields: Array<{ name: string; type: TypeExpr }> = [];
        while (!this.is("}")) {
          this.skipAttributes();
          const f = this.ident();
          this.expect(":");
          fields.push({ name: f, type: this.type() });
          if (!this.eat(",")) break;
        }
        def = { k: "record", name, fields };
      } else if (kw === "variant") {
        const cases: Array<{ name: string; type: TypeExpr | null }> = [];
        while (!this.is("}")) {
          this.skipAttributes();
          const c = this.ident();
          let type: TypeExpr | null = null;
          if (this.eat("(")) {
            type = this.type();
            this.expect(")");
          }
          cases.push({ name: c, type });
          if (!this.eat(",")) break;
        }
        def = { k: "variant", name, cases };
      } else {
        const names: string[] = [];
        while (!this.is("}")) {
          this.skipAttributes();
          names.push(this.ident());
          if (!this.eat(",")) break;
        }
        def = kw === "enum" ? { k: "enum", name, cases: names } : { k: "flags", name, flags: names };
      }
      this.expect("}");
    }
    scope.types.set(name, def);
    return true;
  }

  private func(): Omit<FuncDecl, "name"> {
    this.eat("async");
    if (!this.eat("func")) this.fail("expected func");
    this.expect("(");
    const params: FuncDecl["params"] = [];
    while (!this.is(")")) {
      const p = this.ident();
      this.expect(":");
      params.push({ name: p, type: this.type() });
      if (!this.eat(",")) break;
    }
    this.expect(")");
    let result: TypeExpr | null = null;
    if (this.eat("->")) {
      if (this.is("(")) {
        // named results (older WIT): a tuple of them, or nothing
        this.next();
        const of: TypeExpr[] = [];
        while (!this.is(")")) {
          this.ident();
          this.expect(":");
          of.push(this.type());
          if (!this.eat(",")) break;
        }
        this.expect(")");
        result = of.length === 0 ? null : of.length === 1 ? of[0]! : { k: "tuple", of };
      } else result = this.type();
    }
    return { params, result };
  }

  private type(): TypeExpr {
    if (this.eat("_")) return { k: "named", name: "_" };
    const name = this.ident();
    if (name === "tuple") {
      this.expect("<");
      const of: TypeExpr[] = [];
      while (!this.is(">")) {
        of.push(this.type());
        if (!this.eat(",")) break;
      }
      this.expect(">");
      return { k: "tuple", of };
    }
    if (this.eat("<")) {
      const args: Array<TypeExpr | null> = [];
      while (!this.is(">")) {
        if (this.peek().t === "id" && /^[0-9]+$/.test(this.peek().v)) {
          this.next(); // fixed-size list length
        } else if (this.eat("_")) args.push(null);
        else args.push(this.type());
        if (!this.eat(",")) break;
      }
      this.expect(">");
      return { k: "generic", name, args };
    }
    return { k: "named", name };
  }

  private world(pkg: string): void {
    const name = this.ident();
    this.expect("{");
    const world: World = { pkg, name, types: new Map(), uses: new Map(), funcs: [], exportFuncs: [], exportInterfaces: [], inlineExports: new Map() };
    for (;;) {
      this.skipAttributes();
      if (this.eat("}")) break;
      if (this.peek().t === "eof") this.fail("unterminated world");
      if (this.eat("use")) this.use(pkg, world);
      else if (this.eat("include")) {
        this.interfaceRefOrWorld();
        this.expect(";");
      } else if (this.is("import") || this.is("export")) {
        const dir = this.next().v;
        // `name: func…`, `name: interface { … }`, or an interface reference
        if (this.peek().t === "id" && this.peek(1).v === ":" && (this.peek(2).v === "func" || this.peek(2).v === "async" || this.peek(2).v === "interface")) {
          const item = this.ident();
          this.expect(":");
          if (this.eat("interface")) {
            this.expect("{");
            const scope = this.scopeBody(pkg, item);
            if (dir === "export") world.inlineExports.set(item, scope);
          } else {
            const f = this.func();
            this.expect(";");
            if (dir === "export") world.exportFuncs.push({ name: item, ...f });
          }
        } else {
          const ref = this.interfaceRef(pkg);
          this.expect(";");
          if (dir === "export") world.exportInterfaces.push(ref);
        }
      } else if (!this.typeDef(world)) this.fail("expected import, export, use, include or a type");
    }
    this.worlds.push(world);
  }

  private interfaceRefOrWorld(): void {
    while (!this.is(";") && this.peek().t !== "eof") this.next();
  }
}

function pkgBase(pkg: string): string {
  const at = pkg.indexOf("@");
  return at < 0 ? pkg : pkg.slice(0, at);
}
function pkgVersion(pkg: string): string {
  const at = pkg.indexOf("@");
  return at < 0 ? "" : pkg.slice(at);
}

// ---- resolution -------------------------------------------------------------------------------

class Resolver {
  private depth = 0;
  constructor(private readonly interfaces: Map<string, Scope>) {}

  private lookupInterface(ref: string): Scope {
    const found = this.interfaces.get(ref) ?? [...this.interfaces.entries()].find(([k]) => pkgBase(k.split("/")[0]!) + "/" + k.split("/")[1]!.split("@")[0] === ref.split("@")[0])?.[1];
    if (!found) throw new WitError(`the component's WIT uses interface ${ref}, which it does not define`);
    return found;
  }

  resolve(expr: TypeExpr, scope: Scope): WitType {
    if (++this.depth > 64) throw new WitError("the component's WIT types nest too deeply (or are recursive)");
    try {
      if (expr.k === "tuple") return { kind: "tuple", of: expr.of.map((e) => this.resolve(e, scope)) };
      if (expr.k === "generic") {
        const arg = (i: number) => {
          const a = expr.args[i];
          return a ? this.resolve(a, scope) : null;
        };
        switch (expr.name) {
          case "list":
            return { kind: "list", of: arg(0) ?? this.bad(expr.name) };
          case "option":
            return { kind: "option", of: arg(0) ?? this.bad(expr.name) };
          case "result":
            return { kind: "result", ok: arg(0), err: arg(1) };
          case "borrow":
          case "own":
            return { kind: "handle", name: expr.args[0] && expr.args[0].k === "named" ? expr.args[0].name : "resource" };
          case "future":
          case "stream":
            return { kind: expr.name, name: expr.name };
          default:
            throw new WitError(`unknown generic type ${expr.name}<…> in the component's WIT`);
        }
      }
      const name = expr.name;
      if (PRIMITIVES.has(name)) return { kind: name as PrimitiveKind };
      if (ALIASES[name]) return { kind: ALIASES[name]! };
      if (name === "result") return { kind: "result", ok: null, err: null };
      if (name === "future" || name === "stream") return { kind: name, name };
      return this.named(name, scope);
    } finally {
      this.depth--;
    }
  }

  private bad(what: string): never {
    throw new WitError(`${what}<…> needs a type argument`);
  }

  private named(name: string, scope: Scope): WitType {
    const def = scope.types.get(name);
    if (def) return this.def(def, scope);
    const used = scope.uses.get(name);
    if (used) return this.named(used.name, this.lookupInterface(used.from));
    throw new WitError(`type ${name} is not defined in ${scope.name}`);
  }

  private def(def: TypeDef, scope: Scope): WitType {
    switch (def.k) {
      case "record":
        return { kind: "record", name: def.name, fields: def.fields.map((f) => ({ name: f.name, type: this.resolve(f.type, scope) })) };
      case "variant":
        return { kind: "variant", name: def.name, cases: def.cases.map((c) => ({ name: c.name, type: c.type ? this.resolve(c.type, scope) : null })) };
      case "enum":
        return { kind: "enum", name: def.name, cases: def.cases };
      case "flags":
        return { kind: "flags", name: def.name, flags: def.flags };
      case "alias":
        return this.resolve(def.type, scope);
      case "resource":
        return { kind: "handle", name: def.name };
    }
  }

  func(f: FuncDecl, scope: Scope, name: string, path: string[]): WitFunction {
    return {
      name,
      params: f.params.map((p) => ({ name: p.name, type: this.resolve(p.type, scope) })),
      result: f.result ? this.resolve(f.result, scope) : null,
      path,
    };
  }
}

/**
 * Every function the component exports, by the name a task uses: `add` (world level) or
 * `<interface>#<function>` where `<interface>` is the exported interface's full name
 * (`ns:pkg/iface@v`) or its short name (`iface`) when that is unambiguous.
 */
export function exportedFunctions(witText: string): Map<string, WitFunction> {
  const parser = new Parser(tokenize(witText));
  parser.parseFile();
  // The component's own world is the one in the root package (`wasm-tools component wit` prints it first).
  const world = parser.worlds[0];
  if (!world) throw new WitError("the component's WIT has no world");
  const resolver = new Resolver(parser.interfaces);
  const out = new Map<string, WitFunction>();
  for (const f of world.exportFuncs) out.set(f.name, resolver.func(f, world, f.name, [camel(f.name)]));
  const shortCount = new Map<string, number>();
  const ifaces: Array<{ full: string; short: string; scope: Scope }> = [];
  for (const ref of world.exportInterfaces) {
    const scope = parser.interfaces.get(ref);
    if (!scope) continue; // an interface the text does not define has nothing we could call with types
    const short = ref.split("/")[1]!.split("@")[0]!;
    ifaces.push({ full: ref, short, scope });
    shortCount.set(short, (shortCount.get(short) ?? 0) + 1);
  }
  for (const [name, scope] of world.inlineExports) {
    ifaces.push({ full: name, short: name, scope });
    shortCount.set(name, (shortCount.get(name) ?? 0) + 1);
  }
  for (const { full, short, scope } of ifaces) {
    for (const f of scope.funcs) {
      // jco keys an exported interface by its full name (and a camelCase alias of the short one).
      const fn = resolver.func(f, scope, `${full}#${f.name}`, [full, camel(f.name)]);
      out.set(`${full}#${f.name}`, fn);
      if (shortCount.get(short) === 1 && short !== full) out.set(`${short}#${f.name}`, { ...fn, name: `${short}#${f.name}` });
    }
  }
  return out;
}

/** jco's JS name for a WIT name: lower camel case (heck's rules: words lower-cased, then capitalised). */
export function camel(name: string): string {
  return name
    .split("-")
    .filter((w) => w.length > 0)
    .map((w, i) => (i === 0 ? w.toLowerCase() : w[0]!.toUpperCase() + w.slice(1).toLowerCase()))
    .join("");
}

/** WIT type as text, for error messages. */
export function typeName(t: WitType | null): string {
  if (!t) return "nothing";
  switch (t.kind) {
    case "list":
    case "option":
      return `${t.kind}<${typeName(t.of)}>`;
    case "result":
      return `result<${t.ok ? typeName(t.ok) : "_"}, ${t.err ? typeName(t.err) : "_"}>`;
    case "tuple":
      return `tuple<${t.of.map(typeName).join(", ")}>`;
    case "record":
    case "variant":
    case "enum":
    case "flags":
      return `${t.kind} ${t.name}`;
    case "handle":
      return `resource ${t.name}`;
    case "future":
    case "stream":
      return t.kind;
    default:
      return t.kind;
  }
}
