import { readFile } from "node:fs/promises";
import type { JSONWebKeySet } from "jose";
import { UsageError } from "./errors.js";
import { MAX_JWKS_BYTES, fetchJwks } from "../lib/jwks.js";
import { messageOf } from "../lib/errors.js";

/** Loads a JWKS from an http(s) URL (through jose, bounded in time and size) or a file. */
export async function loadJwks(source: string): Promise<JSONWebKeySet> {
  if (/^https?:\/\//.test(source)) {
    try {
      return await fetchJwks(source);
    } catch (err) {
      throw new UsageError(messageOf(err));
    }
  }
  const text = await readFile(source, "utf8").catch(() => {
    throw new UsageError(`cannot read the JWKS file ${source}`);
  });
  if (text.length > MAX_JWKS_BYTES) throw new UsageError(`the JWKS at ${source} is larger than ${MAX_JWKS_BYTES} bytes`);
  let jwks: unknown;
  try {
    jwks = JSON.parse(text);
  } catch {
    throw new UsageError(`the JWKS at ${source} is not JSON`);
  }
  if (!jwks || typeof jwks !== "object" || !Array.isArray((jwks as { keys?: unknown }).keys)) {
    throw new UsageError(`the JWKS at ${source} has no "keys" array`);
  }
  return jwks as JSONWebKeySet;
}
