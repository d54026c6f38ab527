/**
 * Reading a workflow spec file for `propeller workflow create`: JSON with clear errors (line and
 * column), and a node task's `"wasm": "file.wasm"` (relative to the spec file) turned into the inline
 * artifact the API takes, so nobody base64-encodes a module by hand. Everything else is passed
 * through as written: the manager validates the body (schema, cycles, unknown dependencies).
 */
import { readFile } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import { LIMITS, sha256Digest } from "../protocol/index.js";
import { UsageError } from "./errors.js";
import { messageOf } from "../lib/errors.js";

/** A spec file bigger than this is not a workflow (100 nodes of inline 4 MiB modules are not written by hand). */
const MAX_SPEC_BYTES = 1024 * 1024;

/** Reads a spec from a file (or stdin for "-") and returns the POST /workflows body. */
export async function loadWorkflowSpec(path: string, readStdin: () => Promise<Buffer> = defaultReadStdin): Promise<Record<string, unknown>> {
  let bytes: Buffer;
  if (path === "-") bytes = await readStdin();
  else {
    try {
      bytes = await readFile(path);
    } catch (err) {
      throw new UsageError(`cannot read the workflow spec ${path}: ${(err as NodeJS.ErrnoException).code ?? messageOf(err)}`);
    }
  }
  const label = path === "-" ? "the spec on stdin" : path;
  if (bytes.length > MAX_SPEC_BYTES) throw new UsageError(`${label} is ${bytes.length} bytes; a workflow spec is at most ${MAX_SPEC_BYTES} (reference large modules with "wasm": "file.wasm")`);
  const spec = parseJsonWithPosition(bytes.toString("utf8"), label);
  if (typeof spec !== "object" || spec === null || Array.isArray(spec)) throw new UsageError(`${label}: expected a JSON object {"name": …, "nodes": […]}`);
  const body = spec as Record<string, unknown>;
  if (!Array.isArray(body.nodes)) throw new UsageError(`${label}: "nodes" must be an array of {name, task, dependsOn?}`);
  // Paths are relative to the spec file, so a spec and its modules can move together.
  const baseDir = path === "-" ? process.cwd() : dirname(resolve(path));
  body.nodes = await Promise.all(
    body.nodes.map(async (node: unknown, i: number) => {
      if (typeof node !== "object" || node === null || Array.isArray(node)) return node;
      const n = node as Record<string, unknown>;
      const task = n.task;
      if (typeof task !== "object" || task === null || Array.isArray(task) || !("wasm" in task)) return node;
      const { wasm, ...rest } = task as Record<string, unknown>;
      const where = `${label}: node ${typeof n.name === "string" ? `"${n.name}"` : `#${i + 1}`}`;
      if (typeof wasm !== "string" || wasm === "") throw new UsageError(`${where}: "wasm" must be a file path`);
      if ("artifact" in rest) throw new UsageError(`${where}: give "wasm" or "artifact", not both`);
      return { ...n, task: { ...rest, artifact: await inlineArtifact(resolve(baseDir, wasm), where) } };
    }),
  );
  return body;
}

/** A local module as an inline artifact with its digest (the proplet checks the bytes against it). */
export async function inlineArtifact(file: string, where = file): Promise<{ digest: string; inline: string }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new UsageError(`${where}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? messageOf(err)}`);
  }
  if (bytes.length > LIMITS.inlineArtifactBytes) {
    throw new UsageError(`${where}: ${file} is ${bytes.length} bytes, over the ${LIMITS.inlineArtifactBytes}-byte inline limit; push it to a registry and use "artifact": {"oci": …}`);
  }
  if (bytes.length < 8 || bytes.readUInt32BE(0) !== 0x0061736d) throw new UsageError(`${where}: ${file} is not a WebAssembly module (no \\0asm header)`);
  return { digest: sha256Digest(bytes), inline: bytes.toString("base64") };
}

/** JSON.parse whose error names the line and column of the first mistake. */
export function parseJsonWithPosition(text: string, label: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    // V8 names a position for some mistakes only; the scanner below finds it for all of them.
    const position = jsonErrorPosition(text) ?? text.length;
    const before = text.slice(0, position);
    const line = before.split("\n").length;
    const column = position - before.lastIndexOf("\n");
    const found = position < text.length ? `unexpected ${JSON.stringify(text[position])}` : "the text ends early";
    throw new UsageError(`${label} is not valid JSON: ${found} at line ${line}, column ${column} (${messageOf(err).split("\n")[0]!.slice(0, 120)})`);
  }
}

/**
 * The offset of the first character that makes `text` invalid JSON (RFC 8259), or undefined when the
 * scanner finds none. Only run after JSON.parse failed, to point at the mistake; it builds nothing.
 */
export function jsonErrorPosition(text: string): number | undefined {
  let i = 0;
  class Stop {
    constructor(readonly at: number) {}
  }
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i]!)) i++;
  };
  const expect = (ch: string) => {
    if (text[i] !== ch) throw new Stop(i);
    i++;
  };
  const string = () => {
    expect('"');
    for (;;) {
      if (i >= text.length) throw new Stop(i);
      const c = text[i]!;
      if (c === '"') return void i++;
      if (c < " ") throw new Stop(i);
      if (c === "\\") {
        i++;
        if (text[i] === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) throw new Stop(i);
          i += 5;
        } else if (text[i] !== undefined && '"\\/bfnrt'.includes(text[i]!)) i++;
        else throw new Stop(i);
      } else i++;
    }
  };
  const value = (depth: number): void => {
    if (depth > 1000) throw new Stop(i);
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      ws();
      if (text[i] === "}") return void i++;
      for (;;) {
        ws();
        string();
        ws();
        expect(":");
        value(depth + 1);
        ws();
        if (text[i] === ",") i++;
        else return expect("}");
      }
    }
    if (c === "[") {
      i++;
      ws();
      if (text[i] === "]") return void i++;
      for (;;) {
        value(depth + 1);
        ws();
        if (text[i] === ",") i++;
        else return expect("]");
      }
    }
    if (c === '"') return string();
    for (const word of ["true", "false", "null"]) {
      if (text.startsWith(word, i)) return void (i += word.length);
    }
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m || m[0] === "" || m[0] === "-") throw new Stop(i);
    i += m[0].length;
  };
  try {
    value(0);
    ws();
    return i < text.length ? i : undefined;
  } catch (err) {
    if (err instanceof Stop) return err.at;
    throw err;
  }
}

/** A node name (as the API's pattern) from a file name: `a/b/hello.wasm` → `hello`. */
export function nodeNameFromFile(file: string): string {
  const stem = basename(file).replace(/\.wasm$/i, "").replace(/[^A-Za-z0-9._-]/g, "-").replace(/^[^A-Za-z0-9]+/, "");
  return (stem || "task").slice(0, 56);
}

async function defaultReadStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > MAX_SPEC_BYTES) throw new UsageError(`the spec on stdin is over ${MAX_SPEC_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
