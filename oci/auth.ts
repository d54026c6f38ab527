import { OciAuthError, OciTransportError } from "./errors.js";
import { BoundedMap } from "../lib/bounded-map.js";

/** Registry credentials: a user name and password (or an access token used as the password). */
export interface Credentials {
  username: string;
  password: string;
}

/** Credentials for a registry host (`host[:port]`), or undefined for anonymous access. */
export type CredentialsProvider = (registry: string) => Credentials | undefined;

/** One parsed `WWW-Authenticate` challenge (RFC 7235). */
export interface Challenge {
  scheme: "basic" | "bearer";
  params: Record<string, string>;
}

const PARAM = /([A-Za-z][A-Za-z0-9_-]*)\s*=\s*("((?:[^"\\]|\\.)*)"|[^,\s]*)/g;

/**
 * Parses the registry's challenge. Registries send one scheme per header (`Basic realm=…` or
 * `Bearer realm=…,service=…,scope=…`); anything else is unusable and returns undefined.
 */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*([A-Za-z]+)(?:\s+(.*))?$/s.exec(header.slice(0, 4096));
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  if (scheme !== "basic" && scheme !== "bearer") return undefined;
  const params: Record<string, string> = {};
  for (const p of (m[2] ?? "").matchAll(PARAM)) {
    const key = p[1]!.toLowerCase();
    params[key] = p[3] !== undefined ? p[3].replace(/\\(.)/g, "$1") : p[2]!;
  }
  return { scheme, params };
}

export function basicAuthorization(creds: Credentials): string {
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`, "utf8").toString("base64")}`;
}

/** The scope a request needs: pull for reads, pull+push for writes. */
export function repositoryScope(repository: string, push: boolean): string {
  return `repository:${repository}:${push ? "pull,push" : "pull"}`;
}

/**
 * Bearer tokens by registry, user and scope, each kept until shortly before it expires. Bounded:
 * beyond `maxEntries` the oldest entry goes. Tokens never leave this object except as headers.
 */
export interface TokenCache {
  get(key: string, now?: number): string | undefined;
  set(key: string, token: string, expiresAt: number): void;
  readonly size: number;
}

export function createTokenCache(maxEntries = 256): TokenCache {
  // Each token expires at its own time (expiresAt); beyond maxEntries the oldest set goes.
  const entries = new BoundedMap<string, string>({ maxEntries });
  return {
    get: (key, now = Date.now()) => entries.get(key, now),
    set(key, token, expiresAt) {
      entries.set(key, token, { expiresAt });
    },
    get size() {
      return entries.size;
    },
  };
}

/**
 * Cache key of a token. Actions are sorted: registries list them in any order (distribution 2.8
 * challenges with `pull,push` or `push,pull` at random), and both mean the same grant.
 */
export function tokenCacheKey(registry: string, creds: Credentials | undefined, scope: string): string {
  const canonical = scope
    .split(" ")
    .map((s) => {
      const i = s.lastIndexOf(":");
      return i > 0 ? `${s.slice(0, i)}:${s.slice(i + 1).split(",").sort().join(",")}` : s;
    })
    .sort()
    .join(" ");
  return `${registry}\n${creds?.username ?? ""}\n${canonical}`;
}

/** Default lifetime when the token endpoint does not say (distribution token spec: 60 s). */
const DEFAULT_EXPIRES_IN_S = 60;
/** Never trust a token for longer than this, whatever the endpoint says. */
const MAX_EXPIRES_IN_S = 3600;
/** Renew this long before the stated expiry, so a token does not expire in flight. */
const EXPIRY_SKEW_MS = 5_000;
const MAX_TOKEN_RESPONSE_BYTES = 64 * 1024;

export interface TokenRequest {
  challenge: Challenge;
  /** Scope to ask for when the challenge names none. */
  scope: string;
  registry: string;
  creds: Credentials | undefined;
  /** Whether plain HTTP to this host is allowed (only registries listed as insecure). */
  allowHttp: (host: string) => boolean;
  signal: AbortSignal;
  userAgent: string;
}

/**
 * Fetches a bearer token from the challenge's realm (GET with service and scope; basic
 * credentials when we have them, anonymous otherwise). Returns the token and its expiry time.
 */
export async function fetchBearerToken(req: TokenRequest): Promise<{ token: string; expiresAt: number }> {
  const { challenge, registry } = req;
  const realm = challenge.params.realm;
  let url: URL;
  try {
    url = new URL(realm ?? "");
  } catch {
    throw new OciAuthError("oci_unauthorized", `${registry} sent a bearer challenge without a usable realm`, { registry });
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && req.allowHttp(url.host))) {
    // Credentials (and tokens) must not travel in the clear to a host nobody declared insecure.
    throw new OciTransportError("oci_insecure_refused", `${registry} points to token realm ${url.origin} over plain HTTP; list ${url.host} as insecure to allow it`, { registry, realm: url.origin });
  }
  if (challenge.params.service) url.searchParams.set("service", challenge.params.service);
  url.searchParams.set("scope", challenge.params.scope ?? req.scope);
  const headers: Record<string, string> = { "user-agent": req.userAgent, accept: "application/json" };
  if (req.creds) headers.authorization = basicAuthorization(req.creds);
  const started = Date.now();
  let res: Response;
  try {
    res = await fetch(url, { headers, signal: req.signal, redirect: "error" });
  } catch (err) {
    throw new OciTransportError(req.signal.aborted ? "oci_timeout" : "oci_unreachable", `token endpoint ${url.origin} for ${registry}: ${req.signal.aborted ? "timed out or cancelled" : "unreachable"}`, { registry, realm: url.origin }, { cause: err });
  }
  const text = await readSmallText(res, MAX_TOKEN_RESPONSE_BYTES).catch((err: unknown) => {
    throw new OciTransportError("oci_truncated", `token endpoint ${url.origin} for ${registry}: could not read the answer`, { registry }, { cause: err });
  });
  if (res.status === 401 || res.status === 403) {
    throw new OciAuthError(
      res.status === 401 ? "oci_unauthorized" : "oci_denied",
      req.creds
        ? `token endpoint ${url.origin} refused the credentials of "${req.creds.username}" for ${registry}`
        : `token endpoint ${url.origin} for ${registry} requires credentials (none given)`,
      { registry, status: res.status },
    );
  }
  if (res.status !== 200) {
    throw new OciAuthError("oci_unauthorized", `token endpoint ${url.origin} for ${registry} answered ${res.status}`, { registry, status: res.status });
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new OciAuthError("oci_unauthorized", `token endpoint ${url.origin} for ${registry} did not answer JSON`, { registry });
  }
  const b = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  // Both names are in use: `token` (distribution) and `access_token` (OAuth2).
  const token = typeof b.token === "string" && b.token ? b.token : typeof b.access_token === "string" ? b.access_token : "";
  if (!token || token.length > 16 * 1024 || /[\s,]/.test(token)) {
    throw new OciAuthError("oci_unauthorized", `token endpoint ${url.origin} for ${registry} answered without a usable token`, { registry });
  }
  const expiresIn = typeof b.expires_in === "number" && Number.isFinite(b.expires_in) && b.expires_in > 0 ? Math.min(b.expires_in, MAX_EXPIRES_IN_S) : DEFAULT_EXPIRES_IN_S;
  return { token, expiresAt: started + expiresIn * 1000 - EXPIRY_SKEW_MS };
}

async function readSmallText(res: Response, max: number): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => undefined);
      throw new Error(`answer larger than ${max} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}
