import { randomBytes, generateKeyPairSync, type KeyObject } from "node:crypto";
import { exportJWK } from "jose";
import pino from "pino";
import { canonicalSha384 } from "../../protocol/jcs.js";
import { adminKeygen, mintAdminToken, type AdminConnection, type AdminKeyPair } from "../admin-client.js";
import type { KbsConfigInput } from "../config.js";
import { startKbs, type RunningKbs } from "../server.js";
import type { Database } from "../../db/index.js";

export const silent = pino({ level: "silent" });

export interface TestKbs {
  kbs: RunningKbs;
  url: string;
  admin: AdminKeyPair;
  conn: AdminConnection;
  masterKey: string;
  close(): Promise<void>;
}

/** A real KBS on a loopback port (PGlite in memory unless a database URL / instance is given). */
export async function startTestKbs(overrides: KbsConfigInput = {}, database?: Database, admin?: AdminKeyPair): Promise<TestKbs> {
  const adminKey = admin ?? (await adminKeygen({ id: "test-admin" }));
  const masterKey = overrides.masterKey ?? randomBytes(32).toString("base64");
  const kbs = await startKbs(
    {
      listen: { host: "127.0.0.1", port: 0 },
      developmentMode: true,
      admin: { keys: [{ id: adminKey.id, publicKey: adminKey.publicJwk as Record<string, unknown>, roles: ["admin"] }], maxTokenLifetimeSeconds: 600 },
      ...overrides,
      masterKey,
    },
    { logger: silent, ...(database ? { database } : {}) },
  );
  return {
    kbs,
    url: kbs.url,
    admin: adminKey,
    masterKey,
    conn: { url: kbs.url, token: () => mintAdminToken(adminKey.privateJwk, { keyId: adminKey.id, subject: "test" }) },
    close: () => kbs.close(),
  };
}

export interface TeeKey {
  privateKey: KeyObject;
  publicJwk: Record<string, string>;
}

export async function teeKey(kind: "P-256" | "P-521" | "RSA" = "P-256"): Promise<TeeKey> {
  if (kind === "RSA") {
    const pair = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const jwk = await exportJWK(pair.publicKey);
    return { privateKey: pair.privateKey, publicJwk: { kty: "RSA", alg: "RSA-OAEP-256", n: jwk.n!, e: jwk.e! } };
  }
  const pair = generateKeyPairSync("ec", { namedCurve: kind === "P-256" ? "prime256v1" : "secp521r1" });
  const jwk = await exportJWK(pair.publicKey);
  return { privateKey: pair.privateKey, publicJwk: { kty: "EC", crv: kind, alg: "ECDH-ES+A256KW", x: jwk.x!, y: jwk.y! } };
}

export interface Session {
  cookie: string;
  nonce: string;
}

/** POST /auth as a stock client would. */
export async function auth(url: string, tee = "sample", version = "0.4.0"): Promise<{ response: Response; session?: Session; body: unknown }> {
  const response = await fetch(`${url}/kbs/v0/auth`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ version, tee, "extra-params": { "supported-hash-algorithms": ["sha256", "sha384", "sha512", "sm3"] } }),
  });
  const body = (await response.json()) as { nonce?: string };
  const setCookie = response.headers.get("set-cookie") ?? "";
  const match = /kbs-session-id=([0-9a-f]+)/.exec(setCookie);
  return { response, body, ...(match && body.nonce ? { session: { cookie: `kbs-session-id=${match[1]}`, nonce: body.nonce } } : {}) };
}

/** Sample evidence whose report_data binds `runtimeData` (the 48-byte hash, base64). */
export function sampleEvidence(runtimeData: Record<string, unknown>, additionalEvidence = ""): { svn: string; report_data: string } {
  return { svn: "1", report_data: canonicalSha384({ ...runtimeData, "additional-evidence": additionalEvidence }).toString("base64") };
}

export async function attestRaw(url: string, cookie: string | undefined, body: unknown): Promise<Response> {
  return fetch(`${url}/kbs/v0/attest`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(cookie ? { cookie } : {}) },
    body: JSON.stringify(body),
  });
}

/** auth → attest with sample evidence; returns the token and the session cookie. */
export async function attestSample(url: string, key: TeeKey, extra: Record<string, unknown> = {}): Promise<{ token: string; cookie: string; runtimeData: Record<string, unknown> }> {
  const a = await auth(url, "sample");
  if (!a.session) throw new Error(`auth failed: ${a.response.status} ${JSON.stringify(a.body)}`);
  const runtimeData = { nonce: a.session.nonce, "tee-pubkey": key.publicJwk, ...extra };
  const response = await attestRaw(url, a.session.cookie, { "runtime-data": runtimeData, "tee-evidence": { primary_evidence: sampleEvidence(runtimeData), additional_evidence: "" } });
  const body = (await response.json()) as { token?: string };
  if (response.status !== 200 || !body.token) throw new Error(`attest failed: ${response.status} ${JSON.stringify(body)}`);
  return { token: body.token, cookie: a.session.cookie, runtimeData };
}

export async function getResource(url: string, path: string, credential: { bearer?: string; cookie?: string }): Promise<Response> {
  const headers: Record<string, string> = {};
  if (credential.bearer) headers.authorization = `Bearer ${credential.bearer}`;
  if (credential.cookie) headers.cookie = credential.cookie;
  return fetch(`${url}/kbs/v0/resource/${path}`, { headers });
}

/** Audit rows (newest first) read directly from the store. */
export async function auditRows(kbs: RunningKbs, event?: "auth" | "attest" | "release" | "deny" | "admin") {
  return kbs.context.audit.recent({ limit: 1000, ...(event ? { event } : {}) });
}

export const SAMPLE_POLICY = { allowedTees: ["sample" as const], description: "sample TEE in development mode" };

/** Reference value for the sample TEE's svn claim (what its appraisal needs to affirm). */
export function sampleSvnReference(expiresInMs = 3600_000) {
  return { tee: "sample", claim: "/svn", value: 1, expiresAt: new Date(Date.now() + expiresInMs).toISOString(), note: "sample svn" };
}
