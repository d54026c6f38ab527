import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { openDatabase, migrate, type Database } from "../../db/index.js";
import { createTestDatabase, type TestDatabase } from "../../testing/postgres.js";
import { Envelope, EnvelopeError } from "../crypto/envelope.js";
import { KBS_MIGRATIONS_DIR } from "../server.js";
import { AuditLog } from "../store/audit.js";
import { PolicyStore } from "../store/policies.js";
import { ReferenceValueStore } from "../store/reference-values.js";
import { ResourceStore } from "../store/resources.js";
import { SessionStore } from "../store/sessions.js";
import { SigningKeyStore } from "../store/signing-keys.js";
import { buildEarClaims } from "../../attestation/ear/claims.js";
import { signEar } from "../../attestation/ear/sign.js";
import { verifyEar } from "../../attestation/ear/verify.js";

const backends: { name: string; open: () => Promise<{ db: Database; cleanup: () => Promise<void> }> }[] = [
  {
    name: "PGlite",
    open: async () => {
      const db = await openDatabase("pglite://memory");
      return { db, cleanup: () => db.close() };
    },
  },
  {
    name: "PostgreSQL",
    open: async () => {
      const test: TestDatabase = await createTestDatabase("kbs_store");
      const db = await openDatabase(test.url);
      return { db, cleanup: async () => { await db.close(); await test.drop(); } };
    },
  },
];

/** Every row of every KBS table as text, the way a database dump would show it. */
async function dumpAll(db: Database): Promise<string> {
  const tables = ["kbs_sessions", "kbs_resources", "kbs_resource_policies", "kbs_attestation_policies", "kbs_reference_values", "kbs_signing_keys", "kbs_audit"];
  let out = "";
  for (const table of tables) {
    const r = await db.query<{ row: string }>(`SELECT t::text AS row FROM ${table} t`);
    out += r.rows.map((x) => x.row).join("\n") + "\n";
  }
  return out;
}

for (const backend of backends) {
  describe(`KBS store on ${backend.name}`, () => {
    let db: Database;
    let cleanup: () => Promise<void>;
    const envelope = new Envelope(randomBytes(32).toString("base64"));

    beforeAll(async () => {
      ({ db, cleanup } = await backend.open());
      const first = await migrate(db, KBS_MIGRATIONS_DIR, "kbs");
      expect(first.applied).toContain("0001_init.sql");
      const again = await migrate(db, KBS_MIGRATIONS_DIR, "kbs");
      expect(again.applied).toEqual([]);
    });
    afterAll(async () => cleanup?.());

    it("consumes a nonce once; reports used, expired and unknown sessions apart", async () => {
      const sessions = new SessionStore(db);
      const id = randomBytes(16).toString("hex");
      await sessions.create({ id, tee: "sample", nonce: "n1", client: "127.0.0.1", lifetimeSeconds: 60 });
      const first = await sessions.consumeNonce(id);
      expect(first.ok && first.session.nonce).toBe("n1");
      expect(await sessions.consumeNonce(id)).toEqual({ ok: false, reason: "used" });
      expect(await sessions.consumeNonce(randomBytes(16).toString("hex"))).toEqual({ ok: false, reason: "unknown" });
      const old = randomBytes(16).toString("hex");
      await sessions.create({ id: old, tee: "sample", nonce: "n2", client: "x", lifetimeSeconds: 1 });
      await db.query("UPDATE kbs_sessions SET expires_at = now() - interval '1 second' WHERE id = $1", [old]);
      expect(await sessions.consumeNonce(old)).toEqual({ ok: false, reason: "expired" });
      await db.query("UPDATE kbs_sessions SET expires_at = now() - interval '2 hours' WHERE id = $1", [old]);
      expect(await sessions.purgeExpired(3600)).toBeGreaterThanOrEqual(1);
      expect(await sessions.consumeNonce(old)).toEqual({ ok: false, reason: "unknown" });
    });

    it("session lookups and nonce consumption use the primary-key index, not a scan", async () => {
      const plan = await db.transaction(async (tx) => {
        await tx.query("SET LOCAL enable_seqscan = off");
        const r = await tx.query<{ "QUERY PLAN": string }>("EXPLAIN UPDATE kbs_sessions SET nonce_used = true WHERE id = 'x' AND nonce_used = false AND expires_at > now() RETURNING nonce");
        return r.rows.map((row) => row["QUERY PLAN"]).join("\n");
      });
      expect(plan).toMatch(/Index Scan using kbs_sessions_pkey/);
    });

    it("envelope-encrypts resources: the secret never appears in any table, and rows cannot be moved", async () => {
      const resources = new ResourceStore(db, envelope);
      const secret = randomBytes(64);
      const text = `TOP-SECRET-${randomBytes(8).toString("hex")}`;
      await resources.put("r/key/a", secret, "admin:test", "application/octet-stream");
      await resources.put("r/key/text", Buffer.from(text), "admin:test", null);
      expect((await resources.open("r/key/a"))!.equals(secret)).toBe(true);
      const dump = await dumpAll(db);
      for (const needle of [secret.toString("hex"), secret.toString("base64"), secret.subarray(0, 16).toString("hex"), text, Buffer.from(text).toString("hex")]) {
        expect(dump).not.toContain(needle);
      }
      // Copy a's sealed row under another path: it must not open (the path is the AAD).
      await db.query("INSERT INTO kbs_resources (path, ciphertext, wrapped_key, master_key_id, size, updated_by) SELECT 'r/key/moved', ciphertext, wrapped_key, master_key_id, size, 'x' FROM kbs_resources WHERE path = 'r/key/a'");
      await expect(resources.open("r/key/moved")).rejects.toBeInstanceOf(EnvelopeError);
      // Another master key cannot open anything.
      const other = new ResourceStore(db, new Envelope(randomBytes(32).toString("base64")));
      await expect(other.open("r/key/a")).rejects.toBeInstanceOf(EnvelopeError);
      const updated = await resources.put("r/key/a", Buffer.from("v2"), "admin:test", null);
      expect(updated.created).toBe(false);
      expect((await resources.open("r/key/a"))!.toString()).toBe("v2");
      const page = await resources.list({ prefix: "r/key/", limit: 2 });
      expect(page.map((m) => m.path)).toEqual(["r/key/a", "r/key/moved"]);
      expect((await resources.list({ prefix: "r/key/", after: "r/key/moved", limit: 2 })).map((m) => m.path)).toEqual(["r/key/text"]);
      expect(await resources.delete("r/key/moved")).toBe(true);
      expect(await resources.delete("r/key/moved")).toBe(false);
    });

    it("the audit log is append-only", async () => {
      const audit = new AuditLog(db);
      await audit.record({ event: "admin", outcome: "ok", actor: "admin:x", subject: "s", reason: "test" });
      const rows = await audit.recent({ limit: 10, event: "admin" });
      expect(rows[0]).toMatchObject({ event: "admin", actor: "admin:x" });
      await expect(db.query("UPDATE kbs_audit SET reason = 'rewritten'")).rejects.toThrow(/append-only/);
      await expect(db.query("DELETE FROM kbs_audit")).rejects.toThrow(/append-only/);
      await expect(db.query("TRUNCATE kbs_audit")).rejects.toThrow(/append-only/);
      expect((await audit.recent({ limit: 10, event: "admin" }))[0]!.reason).toBe("test");
    });

    it("stores policies and reference values", async () => {
      const policies = new PolicyStore(db);
      await policies.setResourcePolicy("r/key/a", { allowedTees: ["snp"] }, "admin:x");
      expect((await policies.resourcePolicy("r/key/a"))!.policy).toEqual({ allowedTees: ["snp"] });
      await policies.setAttestationPolicy("snp", { id: "p1" }, "admin:x");
      expect((await policies.attestationPolicy("snp"))!.policy).toEqual({ id: "p1" });
      const rvs = new ReferenceValueStore(db);
      const rv = await rvs.add({ tee: "snp", claim: "/measurement", value: "ab".repeat(48), expiresAt: new Date(Date.now() + 60_000) }, "admin:x");
      expect(rv.value).toBe("ab".repeat(48));
      await rvs.add({ tee: "snp", claim: "/reported_tcb/snp", value: 8, expiresAt: new Date(Date.now() + 60_000) }, "admin:x");
      expect((await rvs.forTee("snp")).map((r) => r.value)).toEqual(["ab".repeat(48), 8]);
      expect(await rvs.delete(rv.id)).toBe(true);
      expect((await rvs.list("snp")).length).toBe(1);
    });

    it("rotates signing keys: the new key signs, the old stays published until its tokens expire", async () => {
      const keys = new SigningKeyStore(db, envelope, 3600, 300);
      const first = await keys.signingKey();
      expect((await keys.signingKey()).kid).toBe(first.kid);
      const claims = buildEarClaims({ issuer: "i", audience: "a", lifetimeSeconds: 300, jti: "j", verifierId: { developer: "d", build: "b" }, status: "affirming", trustVector: {}, policyId: "p", tee: "sample", teeClaims: {}, runtimeData: { nonce: "n", "tee-pubkey": { kty: "EC" } } });
      const oldToken = await signEar(claims, first);
      await keys.rotate();
      const second = await keys.signingKey();
      expect(second.kid).not.toBe(first.kid);
      const jwks = await keys.jwks(0);
      expect(jwks.keys.map((k) => k.kid)).toEqual(expect.arrayContaining([first.kid, second.kid]));
      expect((await verifyEar(oldToken, jwks)).kid).toBe(first.kid);
      // Once the old key's tokens can no longer be valid it leaves the JWKS.
      await db.query("UPDATE kbs_signing_keys SET publish_until = now() - interval '1 second' WHERE kid = $1", [first.kid]);
      expect((await keys.jwks(0)).keys.map((k) => k.kid)).toEqual([second.kid]);
      // The private key is wrapped: its bytes are not in the table.
      const der = first.privateKey.export({ format: "der", type: "pkcs8" }).toString("hex");
      expect(await dumpAll(db)).not.toContain(der.slice(-64));
      // Another replica (same database and master key) signs with the same current key.
      const replica = new SigningKeyStore(db, envelope, 3600, 300, 0);
      expect((await replica.signingKey()).kid).toBe(second.kid);
      // A rotation by one replica is picked up by the other at its next check.
      await keys.rotate();
      const third = await keys.signingKey();
      expect((await replica.signingKey()).kid).toBe(third.kid);
    });
  });
}

describe("KBS store on PostgreSQL: concurrent nonce consumption", () => {
  let test: TestDatabase;
  const dbs: Database[] = [];
  beforeAll(async () => {
    test = await createTestDatabase("kbs_race");
    for (let i = 0; i < 3; i++) dbs.push(await openDatabase(test.url));
    await migrate(dbs[0]!, KBS_MIGRATIONS_DIR, "kbs");
  });
  afterAll(async () => {
    for (const db of dbs) await db.close();
    await test?.drop();
  });

  it("of 30 racing consumers over three connection pools, exactly one wins each nonce", async () => {
    for (let round = 0; round < 5; round++) {
      const id = randomBytes(16).toString("hex");
      await new SessionStore(dbs[0]!).create({ id, tee: "sample", nonce: `n${round}`, client: "x", lifetimeSeconds: 60 });
      const outcomes = await Promise.all(Array.from({ length: 30 }, (_, i) => new SessionStore(dbs[i % 3]!).consumeNonce(id)));
      expect(outcomes.filter((o) => o.ok).length).toBe(1);
      expect(outcomes.filter((o) => !o.ok && o.reason === "used").length).toBe(29);
    }
  });
});
