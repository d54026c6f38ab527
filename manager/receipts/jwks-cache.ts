import type { JSONWebKeySet } from "jose";
import { readBoundedText } from "../../protocol/bounded-read.js";
import { messageOf } from "../../lib/errors.js";
import { BoundedMap } from "../../lib/bounded-map.js";

const MAX_JWKS_BYTES = 256 * 1024;

/**
 * The token-signing keys of each KBS a confidential task names, fetched from
 * `<kbs>/.well-known/jwks.json` and kept for `ttlMs`. A key id the cached set lacks triggers one
 * refetch (the KBS rotated its key), at most once per `minRefetchMs`. Bounded in entries, bytes and time.
 */
export class JwksCache {
  private readonly entries: BoundedMap<string, { jwks: JSONWebKeySet; fetchedAt: number }>;

  constructor(
    private readonly options: { ttlMs?: number; minRefetchMs?: number; timeoutMs?: number; maxEntries?: number } = {},
  ) {
    this.entries = new BoundedMap({ maxEntries: options.maxEntries ?? 64 });
  }

  async get(kbsUrl: string, kid?: string): Promise<JSONWebKeySet> {
    const now = Date.now();
    const cached = this.entries.get(kbsUrl);
    const fresh = cached && now - cached.fetchedAt < (this.options.ttlMs ?? 5 * 60_000);
    const hasKid = kid === undefined || cached?.jwks.keys.some((k) => k.kid === kid);
    const mayRefetch = !cached || now - cached.fetchedAt > (this.options.minRefetchMs ?? 5_000);
    if (cached && fresh && (hasKid || !mayRefetch)) return cached.jwks;
    const jwks = await fetchJwks(kbsUrl, this.options.timeoutMs ?? 10_000);
    this.entries.set(kbsUrl, { jwks, fetchedAt: now });
    return jwks;
  }
}

async function fetchJwks(kbsUrl: string, timeoutMs: number): Promise<JSONWebKeySet> {
  const url = `${kbsUrl.replace(/\/+$/, "")}/.well-known/jwks.json`;
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "error" });
  } catch (err) {
    throw new Error(`cannot fetch the KBS's keys from ${url}: ${String((err as Error).cause ?? messageOf(err))}`);
  }
  if (!response.ok) throw new Error(`fetching the KBS's keys from ${url} answered ${response.status}`);
  const { text, truncated } = await readBoundedText(response, MAX_JWKS_BYTES);
  if (truncated) throw new Error(`the KBS's JWKS at ${url} is larger than ${MAX_JWKS_BYTES} bytes`);
  const parsed = JSON.parse(text) as { keys?: unknown };
  if (!Array.isArray(parsed.keys)) throw new Error(`the KBS's JWKS at ${url} has no keys array`);
  return parsed as JSONWebKeySet;
}
