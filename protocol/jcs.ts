import canonicalizeImpl from "canonicalize";
import { createHash } from "node:crypto";

/** RFC 8785 (JCS) canonical JSON text of a JSON value. */
export function canonicalJson(value: unknown): string {
  const text = (canonicalizeImpl as (v: unknown) => string | undefined)(value);
  if (text === undefined) throw new TypeError("value has no JSON representation");
  return text;
}

export function canonicalSha384(value: unknown): Buffer {
  return createHash("sha384").update(canonicalJson(value), "utf8").digest();
}

export function canonicalSha256(value: unknown): Buffer {
  return createHash("sha256").update(canonicalJson(value), "utf8").digest();
}
