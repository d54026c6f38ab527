/**
 * Remote JSON Web Key Sets through jose's own `createRemoteJWKSet` (its caching, cooldown and
 * refetch on an unknown key id), with a fetch that bounds what a key server can send: no
 * redirects, a time limit, and at most `MAX_JWKS_BYTES` of body. One place for every box that
 * trusts a JWKS over HTTP.
 */
import { createRemoteJWKSet, customFetch, type JSONWebKeySet } from "jose";
import { readBoundedText } from "./bounded-read.js";
import { messageOf } from "./errors.js";

export const MAX_JWKS_BYTES = 256 * 1024;

export type RemoteJwks = ReturnType<typeof createRemoteJWKSet>;

export interface RemoteJwksOptions {
  /** Per request (default 10 s). */
  timeoutMs?: number;
  /** How long a fetched set is used before it is fetched again (default 5 min). */
  cacheMaxAgeMs?: number;
  /** An unknown key id refetches the set at most this often (default 5 s). */
  cooldownMs?: number;
}

/** Why a JWKS could not be had: `unreachable` (network, timeout, status), `too_large`, `invalid`. */
export class JwksFetchError extends Error {
  constructor(
    readonly reason: "unreachable" | "too_large" | "invalid",
    message: string,
  ) {
    super(message);
    this.name = "JwksFetchError";
  }
}

/** A jose remote key set for `url`, fetching through the bounded fetch. */
export function remoteJwks(url: string, options: RemoteJwksOptions = {}): RemoteJwks {
  const timeoutMs = options.timeoutMs ?? 10_000;
  return createRemoteJWKSet(new URL(url), {
    timeoutDuration: timeoutMs,
    cacheMaxAge: options.cacheMaxAgeMs ?? 5 * 60_000,
    cooldownDuration: options.cooldownMs ?? 5_000,
    [customFetch]: (input: string | URL | Request, init?: RequestInit) => boundedFetch(String(input instanceof Request ? input.url : input), init?.signal ?? AbortSignal.timeout(timeoutMs)),
  });
}

/**
 * The set `remote` holds, fetching it first when it is stale or lacks `kid` (and the cooldown
 * allows a refetch). Errors are `JwksFetchError`s naming the URL.
 */
export async function currentJwks(remote: RemoteJwks, url: string, kid?: string): Promise<JSONWebKeySet> {
  const held = remote.jwks();
  const lacksKid = kid !== undefined && !held?.keys.some((k) => k.kid === kid);
  if (!held || !remote.fresh || (lacksKid && !remote.coolingDown)) {
    try {
      await remote.reload();
    } catch (err) {
      throw err instanceof JwksFetchError ? err : new JwksFetchError("invalid", `the JWKS at ${url} is not a key set: ${messageOf(err)}`);
    }
  }
  const jwks = remote.jwks();
  if (!jwks) throw new JwksFetchError("invalid", `the JWKS at ${url} could not be read`);
  return jwks;
}

/** Fetches a JWKS once (a command-line verifier, a test). */
export async function fetchJwks(url: string, options: Pick<RemoteJwksOptions, "timeoutMs"> = {}): Promise<JSONWebKeySet> {
  return currentJwks(remoteJwks(url, options), url);
}

async function boundedFetch(url: string, signal: AbortSignal): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, { signal, redirect: "error" });
  } catch (err) {
    throw new JwksFetchError("unreachable", `cannot fetch ${url}: ${String((err as { cause?: unknown }).cause ?? messageOf(err))}`);
  }
  if (!response.ok) throw new JwksFetchError("unreachable", `fetching ${url} answered ${response.status}`);
  const { text, truncated } = await readBoundedText(response, MAX_JWKS_BYTES);
  if (truncated) throw new JwksFetchError("too_large", `the JWKS at ${url} is larger than ${MAX_JWKS_BYTES} bytes`);
  // jose reads the body as JSON and checks it is a key set; hand it the bytes already bounded.
  return new Response(text, { status: 200, headers: { "content-type": "application/json" } });
}
