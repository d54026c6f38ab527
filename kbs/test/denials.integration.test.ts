import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { SignJWT } from "jose";
import { addReferenceValue, adminKeygen, mintAdminToken, putResource, setResourcePolicy, type AdminConnection } from "../admin-client.js";
import { startKbs, type RunningKbs } from "../server.js";
import { KBS_ERROR_TYPE_PREFIX } from "../errors.js";
import { createTestDatabase, type TestDatabase } from "../../testing/postgres.js";
import { attestRaw, attestSample, auditRows, auth, getResource, SAMPLE_POLICY, sampleEvidence, sampleSvnReference, silent, startTestKbs, teeKey, type TestKbs } from "./helpers.js";

/** Asserts the Trustee error body shape and returns the parsed body. */
async function expectError(response: Response, status: number, variant: string, detail?: RegExp): Promise<{ type: string; detail: string }> {
  const text = await response.text();
  expect(response.status, text).toBe(status);
  const body = JSON.parse(text) as { type: string; detail: string };
  expect(Object.keys(body).sort()).toEqual(["detail", "type"]);
  expect(body.type).toBe(`${KBS_ERROR_TYPE_PREFIX}${variant}`);
  if (detail) expect(body.detail).toMatch(detail);
  // Nothing released: no JWE member in a refusal.
  expect(text).not.toMatch(/ciphertext|encrypted_key/);
  return body;
}

describe("KBS denials: status, body, nothing released, audited", () => {
  let t: TestKbs;
  let pg: TestDatabase;
  /** Further KBS processes' worth of apps on the same database, with different configurations. */
  const others: RunningKbs[] = [];
  const secret = randomBytes(32);
  const start = async (overrides: Parameters<typeof startKbs>[0]) => {
    const kbs = await startKbs({ listen: { host: "127.0.0.1", port: 0 }, masterKey: t.masterKey, ...overrides }, { logger: silent, database: t.kbs.context.db });
    others.push(kbs);
    return kbs;
  };
  const releases = async () => (await auditRows(t.kbs, "release")).length;

  beforeAll(async () => {
    pg = await createTestDatabase("kbs_denials");
    t = await startTestKbs({ databaseUrl: pg.url, developmentMode: true, limits: { resourceBytes: 1024, jsonBodyBytes: 64 * 1024 } });
    await putResource(t.conn, "d/key/ok", secret);
    await setResourcePolicy(t.conn, "d/key/ok", SAMPLE_POLICY);
    await putResource(t.conn, "d/key/nopolicy", secret);
    await putResource(t.conn, "d/key/strict", secret);
    await setResourcePolicy(t.conn, "d/key/strict", { allowedTees: ["sample"], claims: { "/svn": [7] }, runtimeData: { "/proplet-id": ["p-allowed"] } });
    await addReferenceValue(t.conn, sampleSvnReference());
  });
  afterAll(async () => {
    for (const k of others) await k.close();
    await t?.close();
    await pg?.drop();
  });

  it("wrong protocol version: 400 naming the supported version", async () => {
    const a = await auth(t.url, "sample", "0.3.0");
    expect(a.response.status).toBe(400);
    expect((a.body as { detail: string }).detail).toMatch(/0\.4\.0/);
    expect((await auditRows(t.kbs, "auth")).some((r) => r.outcome === "denied" && /0\.3\.0/.test(r.reason ?? ""))).toBe(true);
  });

  it("unsupported TEE: 400 'unsupported TEE'", async () => {
    const a = await auth(t.url, "cca");
    expect(a.response.status).toBe(400);
    expect((a.body as { detail: string }).detail).toMatch(/unsupported TEE "cca"/);
  });

  it("wrong nonce: 401 NonceMismatch, the session's nonce is burnt", async () => {
    const before = await releases();
    const key = await teeKey();
    const a = await auth(t.url);
    const runtimeData = { nonce: randomBytes(32).toString("base64"), "tee-pubkey": key.publicJwk };
    const response = await attestRaw(t.url, a.session!.cookie, { "runtime-data": runtimeData, "tee-evidence": { primary_evidence: sampleEvidence(runtimeData), additional_evidence: "" } });
    await expectError(response, 401, "NonceMismatch", /nonce/);
    // Retrying with the right nonce on the same session fails: nonces are single-use even when wrong.
    const right = { nonce: a.session!.nonce, "tee-pubkey": key.publicJwk };
    await expectError(await attestRaw(t.url, a.session!.cookie, { "runtime-data": right, "tee-evidence": { primary_evidence: sampleEvidence(right) } }), 401, "NonceReused");
    const rows = await auditRows(t.kbs, "attest");
    expect(rows.some((r) => r.outcome === "denied" && /not the nonce this session issued/.test(r.reason ?? ""))).toBe(true);
    expect(await releases()).toBe(before);
  });

  it("reused nonce: the second attest on one session is 401 NonceReused", async () => {
    const key = await teeKey();
    const a = await auth(t.url);
    const runtimeData = { nonce: a.session!.nonce, "tee-pubkey": key.publicJwk };
    const body = { "runtime-data": runtimeData, "tee-evidence": { primary_evidence: sampleEvidence(runtimeData), additional_evidence: "" } };
    expect((await attestRaw(t.url, a.session!.cookie, body)).status).toBe(200);
    await expectError(await attestRaw(t.url, a.session!.cookie, body), 401, "NonceReused", /single-use/);
    expect((await auditRows(t.kbs, "attest")).some((r) => r.outcome === "denied" && /already been used/.test(r.reason ?? ""))).toBe(true);
  });

  it("no cookie / unknown cookie: 401", async () => {
    await expectError(await attestRaw(t.url, undefined, { "runtime-data": { nonce: "x", "tee-pubkey": { kty: "EC" } }, "tee-evidence": { primary_evidence: {} } }), 401, "UnAuthenticatedCookie");
    await expectError(await attestRaw(t.url, `kbs-session-id=${"a".repeat(32)}`, { "runtime-data": { nonce: "x", "tee-pubkey": { kty: "EC" } }, "tee-evidence": { primary_evidence: {} } }), 401, "UnAuthenticatedCookie");
  });

  it("expired session: 401 ExpiredCookie", async () => {
    const short = await start({ developmentMode: true, sessionLifetimeSeconds: 1 });
    const key = await teeKey();
    const a = await auth(short.url);
    await new Promise((r) => setTimeout(r, 1500));
    const runtimeData = { nonce: a.session!.nonce, "tee-pubkey": key.publicJwk };
    await expectError(await attestRaw(short.url, a.session!.cookie, { "runtime-data": runtimeData, "tee-evidence": { primary_evidence: sampleEvidence(runtimeData) } }), 401, "ExpiredCookie", /expired/);
    expect((await auditRows(t.kbs, "attest")).some((r) => r.outcome === "denied" && /session has expired/.test(r.reason ?? ""))).toBe(true);
  });

  it("expired token: 401 TokenExpired (the client re-attests)", async () => {
    const quick = await start({ developmentMode: true, tokenLifetimeSeconds: 1 });
    const { token } = await attestSample(quick.url, await teeKey());
    await new Promise((r) => setTimeout(r, 2600));
    await expectError(await getResource(quick.url, "d/key/ok", { bearer: token }), 401, "TokenExpired", /expired/);
  });

  it("no token, garbage token, forged token: 401", async () => {
    await expectError(await getResource(t.url, "d/key/ok", {}), 401, "TokenNotFound");
    await expectError(await getResource(t.url, "d/key/ok", { bearer: "not.a.jwt" }), 401, "TokenInvalid");
    const { token } = await attestSample(t.url, await teeKey());
    const [h, p] = token.split(".");
    const claims = JSON.parse(Buffer.from(p!, "base64url").toString());
    claims.submods.cpu0["ear.status"] = "affirming";
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, exp: claims.exp + 9999 })).toString("base64url")}.${token.split(".")[2]}`;
    await expectError(await getResource(t.url, "d/key/ok", { bearer: forged }), 401, "TokenInvalid");
    expect((await auditRows(t.kbs, "deny")).some((r) => r.subject === "d/key/ok" && /not valid/.test(r.reason ?? ""))).toBe(true);
  });

  it("sample TEE outside development mode: 403 at auth; a development token is not honoured either", async () => {
    const prod = await start({ developmentMode: false });
    const a = await auth(prod.url, "sample");
    expect(a.response.status).toBe(403);
    expect((a.body as { type: string; detail: string }).type).toBe(`${KBS_ERROR_TYPE_PREFIX}TeeNotAllowed`);
    expect((a.body as { detail: string }).detail).toMatch(/development mode/);
    // A token issued by the development KBS (same database and keys) is refused by the production one.
    const { token } = await attestSample(t.url, await teeKey());
    await expectError(await getResource(prod.url, "d/key/ok", { bearer: token }), 403, "PolicyDeny", /development/);
    expect((await auditRows(t.kbs, "auth")).some((r) => r.outcome === "denied" && r.subject === "sample")).toBe(true);
  });

  it("contraindicated (evidence not bound to the nonce and key): token says so, release is 403", async () => {
    const before = await releases();
    const key = await teeKey();
    const a = await auth(t.url);
    const runtimeData = { nonce: a.session!.nonce, "tee-pubkey": key.publicJwk };
    const evidence = { svn: "1", report_data: randomBytes(48).toString("base64") };
    const response = await attestRaw(t.url, a.session!.cookie, { "runtime-data": runtimeData, "tee-evidence": { primary_evidence: evidence, additional_evidence: "" } });
    expect(response.status).toBe(200);
    const { token } = (await response.json()) as { token: string };
    const claims = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString());
    expect(claims.submods.cpu0["ear.status"]).toBe("contraindicated");
    expect(claims.submods.cpu0["ear.trustworthiness-vector"]["instance-identity"]).toBe(96);
    await expectError(await getResource(t.url, "d/key/ok", { bearer: token }), 403, "PolicyDeny", /ear\.status is "contraindicated"/);
    const denies = await auditRows(t.kbs, "deny");
    expect(denies.some((r) => r.actor === `token:${claims.jti}` && /contraindicated/.test(r.reason ?? ""))).toBe(true);
    expect((await auditRows(t.kbs, "attest")).some((r) => /sample\.report_data/.test(r.reason ?? ""))).toBe(true);
    expect(await releases()).toBe(before);
  });

  it("policy mismatch: 403 with every failed condition explained", async () => {
    const { token } = await attestSample(t.url, await teeKey(), { "proplet-id": "p-other" });
    const body = await expectError(await getResource(t.url, "d/key/strict", { bearer: token }), 403, "PolicyDeny");
    expect(body.detail).toMatch(/claim \/svn is 1, not one of the 1 allowed value/);
    expect(body.detail).toMatch(/runtime data \/proplet-id is "p-other"/);
    expect((await auditRows(t.kbs, "deny")).some((r) => r.subject === "d/key/strict" && r.reason === body.detail)).toBe(true);
  });

  it("resource without a policy: 403, never released", async () => {
    const { token } = await attestSample(t.url, await teeKey());
    await expectError(await getResource(t.url, "d/key/nopolicy", { bearer: token }), 403, "PolicyDeny", /no release policy/);
  });

  it("unknown resource: 404; malformed path: 400/404", async () => {
    const { token } = await attestSample(t.url, await teeKey());
    await expectError(await getResource(t.url, "d/key/missing", { bearer: token }), 404, "ResourceNotFound");
    expect((await auditRows(t.kbs, "deny")).some((r) => r.subject === "d/key/missing")).toBe(true);
    expect((await getResource(t.url, "d/key/.hidden", { bearer: token })).status).toBe(400);
    expect((await getResource(t.url, "d/key", { bearer: token })).status).toBe(404);
  });

  it("an expired reference value no longer affirms: warning, release denied", async () => {
    const ref = await start({ developmentMode: true });
    // Make the only valid svn reference one that the appraisal sees as expired: use a TEE policy
    // on a separate claim whose only reference value expires in a moment.
    await addReferenceValue(t.conn, { tee: "sample", claim: "/hardware_backed", value: false, expiresAt: new Date(Date.now() + 1500).toISOString() });
    await new Promise((r) => setTimeout(r, 2000));
    const { token } = await attestSample(ref.url, await teeKey());
    const claims = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString());
    expect(claims.submods.cpu0["ear.status"]).toBe("warning");
    const checks = claims.submods.cpu0["propeller.appraisal"].checks as { name: string; ok: boolean; detail: string }[];
    expect(checks.find((c) => c.name === "appraisal.reference-value:/hardware_backed")?.detail).toMatch(/expired at/);
    await expectError(await getResource(ref.url, "d/key/ok", { bearer: token }), 403, "PolicyDeny", /"warning"/);
    const { deleteReferenceValue, listReferenceValues } = await import("../admin-client.js");
    for (const rv of await listReferenceValues(t.conn, "sample")) if (rv.claim === "/hardware_backed") await deleteReferenceValue(t.conn, rv.id);
  });

  describe("admin API", () => {
    const put = (url: string, authorization?: string, body: Uint8Array = Buffer.from("x")) =>
      fetch(`${url}/kbs/v0/resource/a/b/c`, { method: "POST", headers: { "content-type": "application/octet-stream", ...(authorization ? { authorization } : {}) }, body });

    it("missing token: 401; bad signature: 401; expired: 401; too long-lived: 401; all audited", async () => {
      await expectError(await put(t.url), 401, "AdminTokenMissing");
      const stranger = await adminKeygen({ id: t.admin.id });
      await expectError(await put(t.url, `Bearer ${await mintAdminToken(stranger.privateJwk, { keyId: t.admin.id })}`), 401, "AdminTokenInvalid");
      const now = Math.floor(Date.now() / 1000);
      const expired = await new SignJWT({}).setProtectedHeader({ alg: "EdDSA", kid: t.admin.id }).setIssuedAt(now - 120).setExpirationTime(now - 60).sign(await importKey(t.admin.privateJwk));
      await expectError(await put(t.url, `Bearer ${expired}`), 401, "AdminTokenInvalid", /expired/);
      const noExp = await new SignJWT({}).setProtectedHeader({ alg: "EdDSA", kid: t.admin.id }).setIssuedAt(now).sign(await importKey(t.admin.privateJwk));
      await expectError(await put(t.url, `Bearer ${noExp}`), 401, "AdminTokenInvalid", /exp/);
      const long = await mintAdminToken(t.admin.privateJwk, { keyId: t.admin.id, lifetimeSeconds: 7200 });
      await expectError(await put(t.url, `Bearer ${long}`), 401, "AdminTokenInvalid", /at most 600 s/);
      const rows = (await auditRows(t.kbs, "admin")).filter((r) => r.outcome === "denied" && r.subject === "a/b/c");
      expect(rows.length).toBeGreaterThanOrEqual(5);
      expect(await t.kbs.context.resources.exists("a/b/c")).toBe(false);
    });

    it("wrong role: 403 AdminForbidden; reader can list but never sees secret bytes", async () => {
      const readerKey = await adminKeygen({ id: "reader", alg: "ES256" });
      const k = await start({
        developmentMode: true,
        admin: { keys: [{ id: "reader", publicKey: readerKey.publicPem, roles: ["reader"] }], maxTokenLifetimeSeconds: 600 },
      });
      const token = await mintAdminToken(readerKey.privatePem, { keyId: "reader", subject: "alice" });
      await expectError(await put(k.url, `Bearer ${token}`), 403, "AdminForbidden", /admin, resource-writer/);
      const conn: AdminConnection = { url: k.url, token };
      const { listResources, getResourceMetadata } = await import("../admin-client.js");
      const list = await listResources(conn);
      expect(list.map((r) => r.path)).toContain("d/key/ok");
      const meta = await getResourceMetadata(conn, "d/key/ok");
      expect(meta).toMatchObject({ path: "d/key/ok", size: 32, hasPolicy: true });
      expect(JSON.stringify([list, meta])).not.toContain(secret.toString("base64"));
      expect((await auditRows(t.kbs, "admin")).some((r) => r.actor === "admin:reader/alice" && r.outcome === "denied")).toBe(true);
    });

    it("no admin key configured: every admin route refuses with 403", async () => {
      const k = await start({ developmentMode: true, admin: { keys: [], maxTokenLifetimeSeconds: 600 } });
      const token = await mintAdminToken(t.admin.privateJwk, { keyId: t.admin.id });
      await expectError(await put(k.url, `Bearer ${token}`), 403, "AdminAuthDisabled", /no admin public key/);
      for (const [method, path] of [["GET", "/kbs/v0/admin/resources"], ["DELETE", "/kbs/v0/resource/d/key/ok"], ["GET", "/kbs/v0/reference-values"], ["GET", "/kbs/v0/admin/audit"]] as const) {
        await expectError(await fetch(`${k.url}${path}`, { method, headers: { authorization: `Bearer ${token}` } }), 403, "AdminAuthDisabled");
      }
      expect(await t.kbs.context.resources.exists("d/key/ok")).toBe(true);
      expect((await auditRows(t.kbs, "admin")).some((r) => r.outcome === "denied" && /admin API is disabled/.test(r.reason ?? ""))).toBe(true);
    });

    it("invalid policies are refused on upload with the reason", async () => {
      const token = await mintAdminToken(t.admin.privateJwk, { keyId: t.admin.id });
      // Trustee's global Rego endpoint is answered with where the per-resource policy goes.
      const rego = await fetch(`${t.url}/kbs/v0/resource-policy`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ policy: "cGFja2FnZQ==" }) });
      await expectError(rego, 400, "InvalidRequest", /per-resource/);
      const response = await fetch(`${t.url}/kbs/v0/resource-policy/d/key/ok`, { method: "PUT", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ allowedTees: [], allowDebug: "yes" }) });
      await expectError(response, 400, "InvalidPolicy", /allowedTees/);
    });
  });

  it("oversized bodies: 413; malformed JSON: 400", async () => {
    const token = await mintAdminToken(t.admin.privateJwk, { keyId: t.admin.id });
    const big = await fetch(`${t.url}/kbs/v0/resource/big/key/x`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" }, body: randomBytes(2048) });
    await expectError(big, 413, "PayloadTooLarge");
    expect(await t.kbs.context.resources.exists("big/key/x")).toBe(false);
    const a = await auth(t.url);
    const huge = await fetch(`${t.url}/kbs/v0/attest`, { method: "POST", headers: { "content-type": "application/json", cookie: a.session!.cookie }, body: JSON.stringify({ pad: "x".repeat(100_000) }) });
    await expectError(huge, 413, "PayloadTooLarge");
    const bad = await fetch(`${t.url}/kbs/v0/auth`, { method: "POST", headers: { "content-type": "application/json" }, body: "{not json" });
    await expectError(bad, 400, "InvalidRequest", /JSON/);
    const missing = await fetch(`${t.url}/kbs/v0/auth`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ tee: "sample" }) });
    await expectError(missing, 400, "InvalidRequest", /version/);
    const denies = await auditRows(t.kbs, "deny");
    expect(denies.some((r) => r.subject === "POST /kbs/v0/resource/:repo/:type/:tag" && /larger/.test(r.reason ?? ""))).toBe(true);
    expect(denies.some((r) => r.subject === "POST /kbs/v0/attest" && /larger/.test(r.reason ?? ""))).toBe(true);
    expect(denies.some((r) => r.subject === "POST /kbs/v0/auth" && /not valid JSON/.test(r.reason ?? ""))).toBe(true);
    expect(denies.some((r) => r.subject === "POST /kbs/v0/auth" && /version/.test(r.reason ?? ""))).toBe(true);
  });

  it("rate limit on /auth and /attest: 429 with Retry-After", async () => {
    // Counted in this process: on the shared database this file's earlier requests from the same
    // address would already count (replicas.integration.test.ts tests the shared counts).
    const limited = await start({ developmentMode: true, rateLimit: { max: 3, windowMs: 60_000, store: "memory" } });
    for (let i = 0; i < 3; i++) expect((await auth(limited.url)).response.status).toBe(200);
    const refused = await fetch(`${limited.url}/kbs/v0/auth`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ version: "0.4.0", tee: "sample" }) });
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    await expectError(refused, 429, "TooManyRequests", /rate limit/);
    const metrics = await (await fetch(`${limited.url}/metrics`)).text();
    expect(metrics).toMatch(/kbs_rate_limited_total\{route="\/kbs\/v0\/auth"\} 1/);
    // One audit row for the client's refused window (further refusals in it add none).
    await fetch(`${limited.url}/kbs/v0/auth`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ version: "0.4.0", tee: "sample" }) });
    const rows = (await auditRows(t.kbs, "deny")).filter((r) => r.subject === "/kbs/v0/auth" && /rate limit/.test(r.reason ?? ""));
    expect(rows.length).toBe(1);
  });
});

async function importKey(jwk: object) {
  const { importJWK } = await import("jose");
  return importJWK(jwk as never, "EdDSA");
}
