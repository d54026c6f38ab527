import { generateKeyPairSync, createPrivateKey, type KeyObject } from "node:crypto";
import { exportJWK, SignJWT, type JWK } from "jose";
import { PropellerError } from "../protocol/errors.js";
import { KBS_RESOURCE_PATH_PREFIX, formatKbsResourcePath, tryParseKbsResourceUri } from "../protocol/kbs.js";
import type { AdminRole } from "./config.js";
import type { ResourcePolicy } from "./policy/resource-policy.js";
import type { AttestationPolicy } from "../attestation/appraisal/index.js";
import type { ReferenceValue, ReferenceValueInput } from "../attestation/appraisal/index.js";
import type { ResourceMetadata } from "./store/resources.js";
import { messageOf } from "../lib/errors.js";

/** A KBS admin call that the KBS refused (status + its `detail`) or that could not be made. */
export class KbsAdminError extends PropellerError {
  constructor(message: string, readonly status: number | undefined, readonly variant: string | undefined) {
    super("kbs_admin", message, { status, variant });
  }
}

export interface AdminKeyPair {
  /** Goes in the KBS config as admin.keys[].id and in the token header as `kid`. */
  id: string;
  alg: "EdDSA" | "ES256";
  publicJwk: JWK;
  /** Keep secret: it mints admin tokens. */
  privateJwk: JWK;
  publicPem: string;
  privatePem: string;
}

/** Creates an admin key pair (Ed25519 by default); put the public half into the KBS config. */
export async function adminKeygen(options: { id?: string; alg?: "EdDSA" | "ES256" } = {}): Promise<AdminKeyPair> {
  const alg = options.alg ?? "EdDSA";
  const pair = alg === "EdDSA" ? generateKeyPairSync("ed25519") : generateKeyPairSync("ec", { namedCurve: "P-256" });
  return {
    id: options.id ?? "admin",
    alg,
    publicJwk: await exportJWK(pair.publicKey),
    privateJwk: await exportJWK(pair.privateKey),
    publicPem: pair.publicKey.export({ format: "pem", type: "spki" }).toString(),
    privatePem: pair.privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
  };
}

export interface MintAdminTokenOptions {
  /** The admin key's id in the KBS config (sent as `kid`). */
  keyId: string;
  /** Who is acting (audit rows show `admin:<keyId>/<subject>`). */
  subject?: string;
  /** Narrow the key's roles for this token. */
  roles?: AdminRole[];
  /** Default 300 s; the KBS refuses tokens living longer than its admin.maxTokenLifetimeSeconds. */
  lifetimeSeconds?: number;
}

/** Mints a short-lived admin JWT with the private key (JWK, PEM or KeyObject). */
export async function mintAdminToken(privateKey: JWK | string | KeyObject, options: MintAdminTokenOptions): Promise<string> {
  const key = typeof privateKey === "string" ? createPrivateKey(privateKey) : "type" in privateKey && privateKey.type === "private" ? (privateKey as KeyObject) : createPrivateKey({ key: privateKey as never, format: "jwk" });
  const alg = key.asymmetricKeyType === "ed25519" ? "EdDSA" : "ES256";
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ ...(options.roles ? { roles: options.roles } : {}) })
    .setProtectedHeader({ alg, typ: "JWT", kid: options.keyId })
    .setIssuedAt(now)
    .setExpirationTime(now + (options.lifetimeSeconds ?? 300))
    .setJti(crypto.randomUUID());
  if (options.subject) jwt.setSubject(options.subject);
  return jwt.sign(key);
}

export interface AdminConnection {
  /** Base URL of the KBS. */
  url: string;
  /** An admin token, or a function that mints one per call. */
  token: string | (() => Promise<string>);
  timeoutMs?: number;
}

/** `kbs:///repo/type/tag` or `repo/type/tag` → `repo/type/tag`. */
export function adminResourcePath(resource: string): string {
  const parsed = tryParseKbsResourceUri(resource, { allowBarePath: true });
  if (!parsed) throw new KbsAdminError(`"${resource.slice(0, 80)}" is not a KBS resource path (<repo>/<type>/<tag>)`, undefined, undefined);
  return formatKbsResourcePath(parsed);
}

async function call<T>(conn: AdminConnection, method: string, path: string, body?: { json: unknown } | { bytes: Uint8Array }): Promise<T> {
  const token = typeof conn.token === "string" ? conn.token : await conn.token();
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  let payload: string | Uint8Array | undefined;
  if (body && "json" in body) {
    headers["content-type"] = "application/json";
    payload = JSON.stringify(body.json);
  } else if (body) {
    headers["content-type"] = "application/octet-stream";
    payload = body.bytes;
  }
  let response: Response;
  try {
    response = await fetch(`${conn.url.replace(/\/+$/, "")}${path}`, { method, headers, body: (payload ?? null) as never, signal: AbortSignal.timeout(conn.timeoutMs ?? 30_000), redirect: "error" });
  } catch (err) {
    throw new KbsAdminError(`cannot reach the KBS at ${conn.url}: ${String((err as Error).cause ?? messageOf(err))}`, undefined, undefined);
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    const err = (parsed ?? {}) as { type?: string; detail?: string };
    const variant = err.type?.split("/").pop();
    throw new KbsAdminError(`KBS refused ${method} ${path} (${response.status}${variant ? ` ${variant}` : ""}): ${err.detail ?? text.slice(0, 300)}`, response.status, variant);
  }
  return parsed as T;
}

export const putResource = (conn: AdminConnection, resource: string, bytes: Uint8Array) =>
  call<{ path: string; size: number; created: boolean }>(conn, "POST", `${KBS_RESOURCE_PATH_PREFIX}${adminResourcePath(resource)}`, { bytes });
export const deleteResource = (conn: AdminConnection, resource: string) => call<{ deleted: string }>(conn, "DELETE", `${KBS_RESOURCE_PATH_PREFIX}${adminResourcePath(resource)}`);
export const getResourceMetadata = (conn: AdminConnection, resource: string) => call<ResourceMetadata>(conn, "GET", `/kbs/v0/admin/resource/${adminResourcePath(resource)}`);
export async function listResources(conn: AdminConnection, options: { prefix?: string; after?: string; limit?: number } = {}): Promise<ResourceMetadata[]> {
  const q = new URLSearchParams();
  if (options.prefix) q.set("prefix", options.prefix);
  if (options.after) q.set("after", options.after);
  if (options.limit) q.set("limit", String(options.limit));
  return (await call<{ resources: ResourceMetadata[] }>(conn, "GET", `/kbs/v0/admin/resources${q.size ? `?${q}` : ""}`)).resources;
}
export const setResourcePolicy = (conn: AdminConnection, resource: string, policy: ResourcePolicy) =>
  call<{ path: string; policy: ResourcePolicy }>(conn, "PUT", `/kbs/v0/resource-policy/${adminResourcePath(resource)}`, { json: policy });
export const getResourcePolicy = (conn: AdminConnection, resource: string) =>
  call<{ path: string; policy: ResourcePolicy; updatedAt: string; updatedBy: string }>(conn, "GET", `/kbs/v0/resource-policy/${adminResourcePath(resource)}`);
export const deleteResourcePolicy = (conn: AdminConnection, resource: string) => call<{ deleted: string }>(conn, "DELETE", `/kbs/v0/resource-policy/${adminResourcePath(resource)}`);
export const setAttestationPolicy = (conn: AdminConnection, tee: string, policy: AttestationPolicy) =>
  call<{ tee: string; policy: AttestationPolicy }>(conn, "POST", "/kbs/v0/attestation-policy", { json: { tee, policy } });
export const getAttestationPolicy = (conn: AdminConnection, tee: string) => call<{ tee: string; policy: AttestationPolicy; stored: boolean }>(conn, "GET", `/kbs/v0/attestation-policy/${encodeURIComponent(tee)}`);
export const addReferenceValue = (conn: AdminConnection, rv: ReferenceValueInput) => call<ReferenceValue>(conn, "POST", "/kbs/v0/reference-value", { json: rv });
export async function listReferenceValues(conn: AdminConnection, tee?: string): Promise<ReferenceValue[]> {
  return (await call<{ referenceValues: ReferenceValue[] }>(conn, "GET", `/kbs/v0/reference-values${tee ? `?tee=${encodeURIComponent(tee)}` : ""}`)).referenceValues;
}
export const deleteReferenceValue = (conn: AdminConnection, id: string) => call<{ deleted: string }>(conn, "DELETE", `/kbs/v0/reference-value/${encodeURIComponent(id)}`);
export async function readAudit(conn: AdminConnection, options: { limit?: number; before?: number; event?: string } = {}): Promise<unknown[]> {
  const q = new URLSearchParams();
  if (options.limit) q.set("limit", String(options.limit));
  if (options.before) q.set("before", String(options.before));
  if (options.event) q.set("event", options.event);
  return (await call<{ entries: unknown[] }>(conn, "GET", `/kbs/v0/admin/audit${q.size ? `?${q}` : ""}`)).entries;
}
export const rotateSigningKey = (conn: AdminConnection) => call<{ kid: string }>(conn, "POST", "/kbs/v0/admin/rotate-signing-key");
