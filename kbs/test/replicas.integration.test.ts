import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { flattenedDecrypt, type FlattenedJWE } from "jose";
import { addReferenceValue, adminKeygen, putResource, setResourcePolicy } from "../admin-client.js";
import { createTestDatabase, type TestDatabase } from "../../testing/postgres.js";
import { attestRaw, attestSample, auth, auditRows, getResource, SAMPLE_POLICY, sampleEvidence, sampleSvnReference, startTestKbs, teeKey, type TestKbs } from "./helpers.js";

describe("two KBS instances on one PostgreSQL database", () => {
  let pg: TestDatabase;
  let a: TestKbs;
  let b: TestKbs;
  const secret = randomBytes(32);

  beforeAll(async () => {
    pg = await createTestDatabase("kbs_replicas");
    const admin = await adminKeygen({ id: "ops" });
    const masterKey = randomBytes(32).toString("base64");
    // Same database, master key, issuer and admin key; separate processes' worth of pools and caches.
    const shared = { databaseUrl: pg.url, developmentMode: true, masterKey, issuer: "https://kbs.test" };
    a = await startTestKbs(shared, undefined, admin);
    b = await startTestKbs(shared, undefined, admin);
    await putResource(a.conn, "rep/key/one", secret);
    await setResourcePolicy(b.conn, "rep/key/one", SAMPLE_POLICY);
    await addReferenceValue(a.conn, sampleSvnReference());
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await pg?.drop();
  });

  it("a nonce issued by one instance is consumed on the other, once only", async () => {
    const key = await teeKey();
    const session = (await auth(a.url)).session!;
    const runtimeData = { nonce: session.nonce, "tee-pubkey": key.publicJwk };
    const body = { "runtime-data": runtimeData, "tee-evidence": { primary_evidence: sampleEvidence(runtimeData), additional_evidence: "" } };
    const first = await attestRaw(b.url, session.cookie, body);
    expect(first.status).toBe(200);
    const { token } = (await first.json()) as { token: string };
    for (const url of [a.url, b.url]) {
      const again = await attestRaw(url, session.cookie, body);
      expect(again.status).toBe(401);
      expect(((await again.json()) as { type: string }).type).toMatch(/NonceReused$/);
    }
    // The token from B releases on A (shared signing keys), and A's session cookie works on B.
    const response = await getResource(a.url, "rep/key/one", { bearer: token });
    expect(response.status).toBe(200);
    expect(Buffer.from((await flattenedDecrypt((await response.json()) as FlattenedJWE, key.privateKey)).plaintext).equals(secret)).toBe(true);
    expect((await getResource(a.url, "rep/key/one", { cookie: session.cookie })).status).toBe(200);
  });

  it("racing the same attest to both instances: exactly one succeeds", async () => {
    for (let round = 0; round < 5; round++) {
      const key = await teeKey();
      const session = (await auth(round % 2 ? a.url : b.url)).session!;
      const runtimeData = { nonce: session.nonce, "tee-pubkey": key.publicJwk };
      const body = { "runtime-data": runtimeData, "tee-evidence": { primary_evidence: sampleEvidence(runtimeData), additional_evidence: "" } };
      const statuses = (await Promise.all([a.url, b.url, a.url, b.url].map((url) => attestRaw(url, session.cookie, body)))).map((r) => r.status);
      expect(statuses.filter((s) => s === 200).length).toBe(1);
      expect(statuses.filter((s) => s === 401).length).toBe(3);
    }
  });

  it("both publish the same JWKS, and a token from either verifies on the other", async () => {
    const ja = await (await fetch(`${a.url}/.well-known/jwks.json`)).json();
    const jb = await (await fetch(`${b.url}/.well-known/jwks.json`)).json();
    expect(ja).toEqual(jb);
    const key = await teeKey();
    const { token } = await attestSample(a.url, key);
    expect((await getResource(b.url, "rep/key/one", { bearer: token })).status).toBe(200);
    expect((await auditRows(b.kbs, "release")).length).toBeGreaterThanOrEqual(3);
  });
});

describe("rate limits across two KBS instances on one PostgreSQL database", () => {
  const started: TestKbs[] = [];
  const databases: TestDatabase[] = [];
  const authStatus = async (url: string) => (await auth(url)).response.status;

  afterAll(async () => {
    for (const k of started) await k.close();
    for (const d of databases) await d.drop();
  });

  /** Two replicas on a database of their own (so no other test's requests count). */
  async function pair(rateLimit: { max: number; windowMs: number; store?: "database" | "memory" }): Promise<[TestKbs, TestKbs]> {
    const pg = await createTestDatabase("kbs_rate");
    databases.push(pg);
    const admin = await adminKeygen({ id: "ops" });
    const shared = { databaseUrl: pg.url, developmentMode: true, masterKey: randomBytes(32).toString("base64"), issuer: "https://kbs.test", rateLimit };
    const a = await startTestKbs(shared, undefined, admin);
    const b = await startTestKbs(shared, undefined, admin);
    started.push(a, b);
    return [a, b];
  }

  it("a client gets max requests per window from the deployment, not from each replica; the window then starts afresh", async () => {
    const [a, b] = await pair({ max: 4, windowMs: 2000 });
    expect([await authStatus(a.url), await authStatus(b.url), await authStatus(a.url), await authStatus(b.url)]).toEqual([200, 200, 200, 200]);
    const refused = await fetch(`${b.url}/kbs/v0/auth`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ version: "0.4.0", tee: "sample" }) });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await authStatus(a.url)).toBe(429);
    await new Promise((r) => setTimeout(r, 2100));
    expect(await authStatus(b.url)).toBe(200);
    expect(await authStatus(a.url)).toBe(200);
  });

  it("with store: memory each replica counts on its own (a lone KBS's choice)", async () => {
    const [a, b] = await pair({ max: 2, windowMs: 60_000, store: "memory" });
    expect([await authStatus(a.url), await authStatus(a.url), await authStatus(b.url), await authStatus(b.url)]).toEqual([200, 200, 200, 200]);
    expect(await authStatus(a.url)).toBe(429);
    expect(await authStatus(b.url)).toBe(429);
  });
});
