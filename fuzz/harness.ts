/**
 * Property-based fuzzing of the parsers that read bytes from outside (fast-check; the
 * coverage-guided @jazzer.js/core 4.0.0 needs glibc 2.38 and Debian 12 has 2.36).
 *
 * The one property: a parser given anything either returns or throws a typed PropellerError — never
 * a TypeError, RangeError or other crash — and answers within HANG_MS. Inputs are real samples
 * (the shared vectors, valid messages) mutated byte by byte or field by field, plus raw random
 * input, so most runs get past the first checks. Runs per target: PROPELLER_FUZZ_RUNS (default
 * small, for CI); `npm run fuzz` runs many more. A failure prints fast-check's seed and the
 * shrunk input: save that input under fuzz/corpus/<target>/ so it is replayed as a regression test
 * on every run.
 */
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import type { TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { PropellerError } from "../lib/errors.js";
import { REPO_ROOT } from "../testing/paths.js";

export const FUZZ_RUNS = Number(process.env.PROPELLER_FUZZ_RUNS ?? 300);
/** An input that takes longer than this is a hang. */
export const HANG_MS = 2000;

/** Byte-level mutations of a sample: bit flips, overwritten ranges, truncation, extension, splices. */
export function mutatedBytes(samples: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const sample = fc.constantFrom(...samples);
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ kind: fc.constant("set" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
    fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
    fc.record({ kind: fc.constant("extend" as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
    fc.record({ kind: fc.constant("interesting" as const), at: fc.nat(), value: fc.constantFrom(0x00, 0xff, 0x7f, 0x80, 0x01) , width: fc.constantFrom(1, 2, 4, 8) }),
  );
  return fc.tuple(sample, fc.array(mutation, { minLength: 1, maxLength: 8 })).map(([base, mutations]) => {
    let out = Buffer.from(base);
    for (const m of mutations) {
      if (out.length === 0 && m.kind !== "extend") continue;
      switch (m.kind) {
        case "flip":
          out[m.at % out.length] = out[m.at % out.length]! ^ (1 << m.bit);
          break;
        case "set":
          out.set(m.bytes.subarray(0, Math.max(0, out.length - (m.at % out.length))), m.at % out.length);
          break;
        case "truncate":
          out = out.subarray(0, m.at % out.length);
          break;
        case "extend":
          out = Buffer.concat([out, m.bytes]);
          break;
        case "interesting":
          out.fill(m.value, m.at % out.length, Math.min(out.length, (m.at % out.length) + m.width));
          break;
      }
    }
    return new Uint8Array(out);
  });
}

/** Bytes: mutated samples most of the time, otherwise anything. */
export function hostileBytes(samples: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc.oneof({ weight: 4, arbitrary: mutatedBytes(samples) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 4096 }) });
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** A JSON value changed at one to three places: a value replaced, a key removed or added. */
export function mutatedJson(samples: readonly unknown[]): fc.Arbitrary<unknown> {
  const replacement = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom<unknown>(null, -1, 0, 2 ** 53, 1e308, -0, "", "a".repeat(70_000), [], {}, "../../etc/passwd", "\u0000", "sha256:" + "0".repeat(64)),
  );
  const edit = fc.record({ path: fc.array(fc.nat(), { minLength: 0, maxLength: 4 }), value: replacement, op: fc.constantFrom("replace", "delete", "add") });
  return fc.tuple(fc.constantFrom(...samples), fc.array(edit, { minLength: 1, maxLength: 3 })).map(([sample, edits]) => {
    const doc = structuredClone(sample) as Json;
    // A fresh copy per edit: fast-check may hand out one object twice, and two references to it could make a cycle.
    for (const e of edits) applyEdit(doc, e.path, e.op, structuredClone(e.value) as Json);
    return doc;
  });
}

function applyEdit(doc: Json, path: number[], op: string, value: Json): void {
  let node: Json = doc;
  for (const [depth, step] of path.entries()) {
    if (node === null || typeof node !== "object") return;
    const keys = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node);
    if (keys.length === 0) break;
    const key = keys[step % keys.length]!;
    const child: Json = (node as Record<string | number, Json>)[key]!;
    const last = depth === path.length - 1;
    if (last || child === null || typeof child !== "object") {
      if (op === "delete") {
        if (Array.isArray(node)) node.splice(key as number, 1);
        else delete (node as Record<string, Json>)[key as string];
      } else if (op === "add" && !Array.isArray(node)) (node as Record<string, Json>)[`fuzz_${step}`] = value;
      else (node as Record<string | number, Json>)[key] = value;
      return;
    }
    node = child;
  }
  if (node !== null && typeof node === "object" && !Array.isArray(node)) (node as Record<string, Json>).fuzz = value;
}

/** Runs `parse` on the input; only a PropellerError (or a return) is allowed, within HANG_MS. */
export async function survives(parse: (input: never) => unknown, input: unknown): Promise<void> {
  const began = Date.now();
  try {
    await parse(input as never);
  } catch (err) {
    if (!(err instanceof PropellerError)) {
      const e = err as Error;
      throw new Error(`not a typed error: ${e?.constructor?.name ?? typeof err}: ${e?.message ?? String(err)}`, { cause: err });
    }
  }
  const took = Date.now() - began;
  if (took > HANG_MS) throw new Error(`took ${took} ms (a hang: over ${HANG_MS} ms)`);
}

/** The saved regression inputs of one target (fuzz/corpus/<target>/*), as bytes. */
export function corpus(target: string): Uint8Array[] {
  const dir = join(REPO_ROOT, "fuzz", "corpus", target);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).sort().map((f) => new Uint8Array(readFileSync(join(dir, f))));
}

/** fast-check's assert with the run count, on an async property. */
export async function fuzz<T>(arbitrary: fc.Arbitrary<T>, parse: (input: T) => unknown, runs = FUZZ_RUNS): Promise<void> {
  await fc.assert(fc.asyncProperty(arbitrary, (input) => survives(parse as (input: never) => unknown, input)), { numRuns: runs });
}

/** Strings tried, in order, against a string schema's pattern and bounds. */
const STRING_CANDIDATES = [
  "p1",
  "a",
  "00000000-0000-4000-8000-000000000000",
  "sha256:" + "ab".repeat(32),
  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
  "2026-12-07T12:00:00.000Z",
  "kbs:///repo/type/tag",
  "AAAA",
  "",
];

/**
 * A value shaped like `schema` (TypeBox's JSON Schema): every property present, one item per array,
 * strings picked to satisfy patterns where a candidate does. Valid or nearly so: a seed for
 * mutation (TypeBox's Value.Create refuses schemas with patterns and no default).
 */
export function sampleOf(schema: TSchema): unknown {
  const s = schema as Record<string, unknown> & TSchema;
  if ("const" in s) return s.const;
  if (Array.isArray(s.anyOf)) {
    for (const variant of s.anyOf as TSchema[]) {
      const v = sampleOf(variant);
      if (Value.Check(variant, v)) return v;
    }
    return sampleOf((s.anyOf as TSchema[])[0]!);
  }
  switch (s.type) {
    case "object": {
      const out: Record<string, unknown> = {};
      for (const [k, sub] of Object.entries((s.properties ?? {}) as Record<string, TSchema>)) out[k] = sampleOf(sub);
      return out;
    }
    case "array":
      return s.items ? [sampleOf(s.items as TSchema)] : [];
    case "string": {
      const min = (s.minLength as number | undefined) ?? 0;
      for (const c of [...STRING_CANDIDATES, "a".repeat(min)]) if (Value.Check(schema, c)) return c;
      return "a".repeat(min);
    }
    case "integer":
    case "number":
      return (s.minimum as number | undefined) ?? 0;
    case "boolean":
      return false;
    case "null":
      return null;
    default:
      return null;
  }
}
