import { readFile } from "node:fs/promises";
import type { JSONWebKeySet } from "jose";
import { UsageError } from "./errors.js";
import { readBoundedText } from "../protocol/bounded-read.js";
import { messageOf } from "../lib/errors.js";

const MAX_JWKS_BYTES = 256 * 1024;

/** Loads a JWKS from an http(s) URL (bounded in time and size) or a file. */
export async function loadJwks(source: string): Promise<JSONWebKeySet> {
  let text: string;
  if (/^https?:\/\//.test(source)) {
    let response: Response;
    try {
      response = await fetch(source, { signal: AbortSignal.timeout(10_000), redirect: "error" });
    } catch (err) {
      throw new UsageError(`cannot fetch the JWKS from ${source}: ${String((err as Error).cause ?? messageOf(err))}`);
    }
    if (!response.ok) throw new UsageError(`fetching the JWKS from ${source} answered ${response.status}`);
    const body = await readBoundedText(response, MAX_JWKS_BYTES);
    if (body.truncated) throw new UsageError(`the JWKS at ${source} is larger than ${MAX_JWKS_BYTES} bytes`);
    text = body.text;
  } else {
    text = await readFile(source, "utf8").catch(() => {
      throw new UsageError(`cannot read the JWKS file ${source}`);
    });
  }
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

