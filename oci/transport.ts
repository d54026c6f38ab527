import type { Logger } from "pino";
import { digestHasher, type Digest } from "../protocol/digest.js";
import { DigestError, SizeLimitError } from "../protocol/errors.js";
import {
  basicAuthorization,
  createTokenCache,
  fetchBearerToken,
  parseChallenge,
  repositoryScope,
  tokenCacheKey,
  type CredentialsProvider,
  type TokenCache,
} from "./auth.js";
import { OciAuthError, OciRegistryError, OciTransportError } from "./errors.js";
import { messageOf } from "../lib/errors.js";

/**
 * HTTP to registries: scheme choice (HTTPS unless the registry is listed as insecure), timeouts
 * on every request, bounded redirects that never carry credentials to another origin, the
 * 401 → challenge → credentials/token → retry-once flow, and bounded, hashed body reading.
 */
export interface TransportOptions {
  /** Registries (`host[:port]`) reached over plain HTTP. Every other registry is HTTPS only. */
  insecureRegistries?: readonly string[];
  credentials?: CredentialsProvider;
  /** Milliseconds to the response headers and between two body chunks. Default 30 s. */
  timeoutMs?: number;
  /** Milliseconds one request may take in all, body included. Default 10 min. */
  maxDurationMs?: number;
  /** Redirects followed for GET/HEAD (registries redirect blobs to storage). Default 5. */
  maxRedirects?: number;
  tokenCache?: TokenCache;
  logger?: Logger;
  userAgent?: string;
}

export interface Transport {
  baseUrl(registry: string): URL;
  send(spec: SendSpec): Promise<Exchange>;
}

export interface SendSpec {
  method: "GET" | "HEAD" | "POST" | "PUT";
  url: URL;
  registry: string;
  repository: string;
  /** Needs push scope (uploads, manifest PUT). */
  push: boolean;
  headers?: Record<string, string>;
  body?: Uint8Array;
  followRedirects: boolean;
  /** What is being fetched, for messages: "manifest localhost:5000/app:1.0". */
  what: string;
  /** The caller's cancellation (e.g. the task was stopped). */
  signal?: AbortSignal;
}

/** A response whose body is still to be read, and the timer that bounds reading it. */
export interface Exchange {
  res: Response;
  timer: RequestTimer;
}

export interface RequestTimer {
  signal: AbortSignal;
  /** Progress was made: restart the idle timeout. */
  touch(): void;
  clear(): void;
  /** Why the request was aborted: a timeout fired, or the caller cancelled. */
  readonly fired: "idle" | "deadline" | "cancelled" | undefined;
}

export function startTimer(timeoutMs: number, maxDurationMs: number, external?: AbortSignal): RequestTimer {
  const controller = new AbortController();
  let fired: "idle" | "deadline" | "cancelled" | undefined;
  const fire = (why: "idle" | "deadline" | "cancelled") => {
    if (fired) return;
    fired = why;
    controller.abort(new Error(why === "cancelled" ? "request cancelled" : `request ${why} timeout`));
  };
  const onCancel = () => fire("cancelled");
  let idle = setTimeout(() => fire("idle"), timeoutMs);
  const deadline = setTimeout(() => fire("deadline"), maxDurationMs);
  if (external?.aborted) fire("cancelled");
  else external?.addEventListener("abort", onCancel, { once: true });
  return {
    signal: controller.signal,
    touch() {
      clearTimeout(idle);
      if (!fired) idle = setTimeout(() => fire("idle"), timeoutMs);
    },
    clear() {
      clearTimeout(idle);
      clearTimeout(deadline);
      external?.removeEventListener("abort", onCancel);
    },
    get fired() {
      return fired;
    },
  };
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export function createTransport(options: TransportOptions = {}): Transport {
  const insecure = new Set((options.insecureRegistries ?? []).map((h) => h.toLowerCase()));
  const timeoutMs = options.timeoutMs ?? 30_000;
  const maxDurationMs = options.maxDurationMs ?? 600_000;
  const maxRedirects = options.maxRedirects ?? 5;
  const tokens = options.tokenCache ?? createTokenCache();
  const userAgent = options.userAgent ?? "propeller-oci/0.1";
  const log = options.logger;
  /** Registries that answered with a Basic challenge: send Basic up front next time. */
  const basicRegistries = new Set<string>();
  const allowHttp = (host: string) => insecure.has(host.toLowerCase());

  const baseUrl = (registry: string) => new URL(`${allowHttp(registry) ? "http" : "https"}://${registry}/`);

  async function authorizationFor(registry: string, scope: string): Promise<string | undefined> {
    const creds = options.credentials?.(registry);
    if (basicRegistries.has(registry) && creds) return basicAuthorization(creds);
    const token = tokens.get(tokenCacheKey(registry, creds, scope));
    return token ? `Bearer ${token}` : undefined;
  }

  async function send(spec: SendSpec): Promise<Exchange> {
    const scope = repositoryScope(spec.repository, spec.push);
    const registryOrigin = baseUrl(spec.registry).origin;
    let authorization = await authorizationFor(spec.registry, scope);
    let authTried = false;
    let url = spec.url;
    let hops = 0;
    for (;;) {
      if (url.protocol === "http:" && !allowHttp(url.host)) {
        throw new OciTransportError("oci_insecure_refused", `${spec.what}: refusing plain HTTP to ${url.host} (not listed as insecure)`, { host: url.host });
      }
      if (url.protocol !== "http:" && url.protocol !== "https:") {
        throw new OciTransportError("oci_insecure_refused", `${spec.what}: refusing ${url.protocol} URL`, { host: url.host });
      }
      const headers: Record<string, string> = { "user-agent": userAgent, ...spec.headers };
      // Credentials go to the registry's own origin only, never to the storage a blob redirects to.
      if (authorization && url.origin === registryOrigin) headers.authorization = authorization;
      const timer = startTimer(timeoutMs, maxDurationMs, spec.signal);
      let res: Response;
      try {
        res = await fetch(url, {
          method: spec.method,
          headers,
          ...(spec.body ? { body: spec.body } : {}),
          redirect: "manual",
          signal: timer.signal,
        });
      } catch (err) {
        timer.clear();
        throw transportFailure(err, timer, spec.what, url);
      }
      timer.touch();
      log?.debug({ method: spec.method, url: url.href, status: res.status }, "registry request");

      if (REDIRECTS.has(res.status) && spec.followRedirects && (spec.method === "GET" || spec.method === "HEAD")) {
        await discard(res, timer);
        const location = res.headers.get("location");
        if (!location) throw new OciRegistryError(`${spec.what}: redirect ${res.status} without a Location`, res.status);
        if (++hops > maxRedirects) {
          throw new OciTransportError("oci_too_many_redirects", `${spec.what}: more than ${maxRedirects} redirects`, { maxRedirects });
        }
        url = new URL(location, url);
        continue;
      }

      if (res.status === 401 && !authTried && url.origin === registryOrigin) {
        authTried = true;
        const challenge = parseChallenge(res.headers.get("www-authenticate"));
        await discard(res, timer);
        const creds = options.credentials?.(spec.registry);
        if (challenge?.scheme === "basic") {
          if (!creds) throw unauthorized(spec, false);
          basicRegistries.add(spec.registry);
          authorization = basicAuthorization(creds);
          continue;
        }
        if (challenge?.scheme === "bearer") {
          const tokenTimer = startTimer(timeoutMs, maxDurationMs, spec.signal);
          try {
            const wanted = challenge.params.scope ?? scope;
            const { token, expiresAt } = await fetchBearerToken({
              challenge,
              scope,
              registry: spec.registry,
              creds,
              allowHttp,
              signal: tokenTimer.signal,
              userAgent,
            });
            tokens.set(tokenCacheKey(spec.registry, creds, wanted), token, expiresAt);
            if (wanted !== scope) tokens.set(tokenCacheKey(spec.registry, creds, scope), token, expiresAt);
            authorization = `Bearer ${token}`;
          } finally {
            tokenTimer.clear();
          }
          continue;
        }
        throw unauthorized(spec, creds !== undefined);
      }
      if (res.status === 401) {
        await discard(res, timer);
        throw unauthorized(spec, options.credentials?.(spec.registry) !== undefined);
      }
      if (res.status === 403) {
        const detail = await errorDetail(res, timer);
        throw new OciAuthError("oci_denied", `${spec.what}: access denied by ${spec.registry}${detail}`, { registry: spec.registry, status: 403 });
      }
      return { res, timer };
    }
  }

  return { baseUrl, send };
}

function unauthorized(spec: SendSpec, hadCredentials: boolean): OciAuthError {
  return new OciAuthError(
    "oci_unauthorized",
    hadCredentials
      ? `${spec.what}: ${spec.registry} rejected the credentials (401)`
      : `${spec.what}: ${spec.registry} requires credentials (401); none were given`,
    { registry: spec.registry, status: 401 },
  );
}

/** Maps a fetch or body-read rejection to a typed error. */
export function transportFailure(err: unknown, timer: RequestTimer, what: string, url?: URL): Error {
  if (err instanceof OciTransportError || err instanceof SizeLimitError || err instanceof DigestError) return err;
  if (timer.fired === "cancelled") return new OciTransportError("oci_cancelled", `${what}: cancelled`, {}, { cause: err });
  if (timer.fired) {
    return new OciTransportError("oci_timeout", `${what}: timed out (${timer.fired === "idle" ? "no data within the timeout" : "request took too long"})`, { why: timer.fired }, { cause: err });
  }
  const cause = (err as { cause?: { code?: string } })?.cause;
  const code = cause?.code ?? (err as { code?: string })?.code;
  // With a URL the failure happened before the response (connect, TLS, request); without one,
  // while reading a body whose headers had arrived: the body was cut short.
  if (url) {
    const hint = url.protocol === "https:" && typeof code === "string" && code.startsWith("ERR_SSL") ? "; if it serves plain HTTP, list it as an insecure registry (--insecure)" : "";
    return new OciTransportError("oci_unreachable", `${what}: request to ${url.host} failed (${code ?? messageOf(err)})${hint}`, { code }, { cause: err });
  }
  return new OciTransportError("oci_truncated", `${what}: the connection closed before the whole body arrived (${code ?? messageOf(err)})`, { code }, { cause: err });
}

export async function discard(res: Response, timer: RequestTimer): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    /* the connection is going away anyway */
  } finally {
    timer.clear();
  }
}

export interface ReadBodyOptions {
  what: string;
  /** Largest body accepted; more is refused while streaming. */
  maxBytes: number;
  /** Exact size the descriptor promises, if known. */
  expectedSize?: number;
  /** Digest the content must hash to; checked before anything is returned. */
  expectedDigest?: Digest;
}

/**
 * Reads the body chunk by chunk, refusing it as soon as it passes `maxBytes` (or the descriptor's
 * size) and checking the incremental sha256 at the end. Returns the bytes and their digest; on
 * any failure nothing is returned and the connection is dropped.
 */
export async function readBody(exchange: Exchange, opts: ReadBodyOptions): Promise<{ bytes: Uint8Array; digest: Digest }> {
  const { res, timer } = exchange;
  const limit = Math.min(opts.maxBytes, opts.expectedSize ?? Number.POSITIVE_INFINITY);
  const declared = res.headers.get("content-length");
  const declaredLength = declared !== null && /^[0-9]+$/.test(declared) ? Number(declared) : undefined;
  try {
    if (declaredLength !== undefined && declaredLength > limit) throw tooLarge(opts, declaredLength, limit);
    if (!res.body) throw new OciTransportError("oci_truncated", `${opts.what}: empty response body`);
    const reader = res.body.getReader();
    const hasher = digestHasher();
    const chunks: Uint8Array[] = [];
    let total = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        timer.touch();
        total += value.byteLength;
        if (total > limit) throw tooLarge(opts, total, limit);
        hasher.update(value);
        chunks.push(value);
      }
    } catch (err) {
      await reader.cancel().catch(() => undefined);
      throw err;
    }
    if ((opts.expectedSize !== undefined && total < opts.expectedSize) || (declaredLength !== undefined && total !== declaredLength)) {
      throw new OciTransportError("oci_truncated", `${opts.what}: body ended after ${total} of ${opts.expectedSize ?? declaredLength} bytes`, { received: total, expected: opts.expectedSize ?? declaredLength });
    }
    const digest = hasher.digest();
    if (opts.expectedDigest !== undefined && digest !== opts.expectedDigest) {
      throw new DigestError("digest_mismatch", `${opts.what}: digest mismatch: expected ${opts.expectedDigest}, got ${digest}`, { expected: opts.expectedDigest, actual: digest });
    }
    const bytes = chunks.length === 1 ? chunks[0]! : new Uint8Array(Buffer.concat(chunks));
    return { bytes, digest };
  } catch (err) {
    await res.body?.cancel().catch(() => undefined);
    throw transportFailure(err, timer, opts.what);
  } finally {
    timer.clear();
  }
}

function tooLarge(opts: ReadBodyOptions, size: number, limit: number): SizeLimitError {
  const byDescriptor = opts.expectedSize !== undefined && opts.expectedSize <= opts.maxBytes;
  return new SizeLimitError(
    byDescriptor
      ? `${opts.what}: larger than its descriptor says (${size} > ${limit} bytes)`
      : `${opts.what}: larger than the limit of ${limit} bytes (${size} bytes so far)`,
    { limit, received: size },
  );
}

/** ` (CODE: message)` from a distribution error body, bounded; empty when there is none. */
export async function errorDetail(res: Response, timer: RequestTimer): Promise<string> {
  try {
    const { bytes } = await readBody({ res, timer }, { what: "error body", maxBytes: 16 * 1024 });
    const body = JSON.parse(Buffer.from(bytes).toString("utf8")) as { errors?: Array<{ code?: unknown; message?: unknown }> };
    const first = Array.isArray(body.errors) ? body.errors[0] : undefined;
    if (first && typeof first.code === "string") {
      return ` (${first.code.slice(0, 64)}${typeof first.message === "string" ? `: ${first.message.slice(0, 200)}` : ""})`;
    }
  } catch {
    /* no usable error body: the status alone says enough */
  } finally {
    timer.clear();
  }
  return "";
}
