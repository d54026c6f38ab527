import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import {
  addReferenceValue, adminKeygen, deleteReferenceValue, deleteResource, deleteResourcePolicy, getAttestationPolicy, getResourceMetadata,
  getResourcePolicy, KbsAdminError, listReferenceValues, listResources, mintAdminToken, putResource, readAudit, setAttestationPolicy, setResourcePolicy,
} from "../admin-client.js";
import { createTestDatabase, type TestDatabase } from "../../testing/postgres.js";
import { startTestKbs, type TestKbs } from "./helpers.js";

describe("admin API through kbs/admin-client.ts (what the CLI calls)", () => {
  let pg: TestDatabase;
  let t: TestKbs;
  beforeAll(async () => {
    pg = await createTestDatabase("kbs_admin");
    const admin = await adminKeygen({ id: "ops", alg: "ES256" });
    t = await startTestKbs({ databaseUrl: pg.url, developmentMode: false }, undefined, admin);
  });
  afterAll(async () => {
    await t?.close();
    await pg?.drop();
  });

  it("resources: put (create, then replace), metadata, list with paging, delete — never the bytes", async () => {
    const secret = randomBytes(40);
    expect(await putResource(t.conn, "kbs:///app/key/a", secret)).toEqual({ path: "app/key/a", size: 40, created: true });
    expect(await putResource(t.conn, "app/key/a", secret.subarray(0, 10))).toEqual({ path: "app/key/a", size: 10, created: false });
    await putResource(t.conn, "app/key/b", Buffer.from("b"));
    await putResource(t.conn, "other/key/c", Buffer.from("c"));
    const meta = await getResourceMetadata(t.conn, "app/key/a");
    expect(meta).toMatchObject({ path: "app/key/a", size: 10, hasPolicy: false, updatedBy: "admin:ops/test" });
    expect((await listResources(t.conn, { prefix: "app/" })).map((r) => r.path)).toEqual(["app/key/a", "app/key/b"]);
    expect((await listResources(t.conn, { limit: 1, after: "app/key/a" })).map((r) => r.path)).toEqual(["app/key/b"]);
    expect(JSON.stringify(await listResources(t.conn))).not.toContain(secret.subarray(0, 10).toString("base64"));
    expect(await deleteResource(t.conn, "app/key/b")).toEqual({ deleted: "app/key/b" });
    await expect(deleteResource(t.conn, "app/key/b")).rejects.toMatchObject({ status: 404, variant: "ResourceNotFound" });
    expect(() => putResource(t.conn, "../etc/passwd", Buffer.from("x"))).toThrow(KbsAdminError);
  });

  it("resource policies: set (validated), get, delete", async () => {
    const policy = { allowedTees: ["snp" as const], measurement: ["ab".repeat(48)], description: "prod" };
    expect((await setResourcePolicy(t.conn, "app/key/a", policy)).policy).toEqual(policy);
    const got = await getResourcePolicy(t.conn, "app/key/a");
    expect(got.policy).toEqual(policy);
    expect(got.updatedBy).toBe("admin:ops/test");
    expect((await getResourceMetadata(t.conn, "app/key/a")).hasPolicy).toBe(true);
    await expect(setResourcePolicy(t.conn, "app/key/a", { allowedTees: ["snp"], bogus: true } as never)).rejects.toMatchObject({ status: 400, variant: "InvalidPolicy" });
    await deleteResourcePolicy(t.conn, "app/key/a");
    await expect(getResourcePolicy(t.conn, "app/key/a")).rejects.toMatchObject({ status: 404 });
  });

  it("attestation policies and reference values", async () => {
    expect((await getAttestationPolicy(t.conn, "snp")).stored).toBe(false);
    await setAttestationPolicy(t.conn, "snp", { id: "prod/snp", minimums: { "/reported_tcb/snp": 8 } });
    const stored = await getAttestationPolicy(t.conn, "snp");
    expect(stored).toMatchObject({ stored: true, policy: { id: "prod/snp", minimums: { "/reported_tcb/snp": 8 }, requireReferenceValues: true } });
    const rv = await addReferenceValue(t.conn, { tee: "snp", claim: "/measurement", value: "ab".repeat(48), expiresAt: new Date(Date.now() + 86400_000).toISOString(), note: "release 1.2" });
    expect(rv).toMatchObject({ tee: "snp", claim: "/measurement", note: "release 1.2", createdBy: "admin:ops/test" });
    await expect(addReferenceValue(t.conn, { tee: "snp", claim: "/measurement", value: "cd", expiresAt: new Date(Date.now() - 1000).toISOString() })).rejects.toThrow(/past/);
    await expect(addReferenceValue(t.conn, { tee: "snp", claim: "measurement", value: "cd", expiresAt: new Date(Date.now() + 1000).toISOString() })).rejects.toMatchObject({ status: 400 });
    expect((await listReferenceValues(t.conn, "snp")).map((r) => r.id)).toEqual([rv.id]);
    await deleteReferenceValue(t.conn, rv.id);
    expect(await listReferenceValues(t.conn, "snp")).toEqual([]);
  });

  it("every admin action is in the audit log with who did it; roles can be narrowed per token", async () => {
    const entries = (await readAudit(t.conn, { event: "admin", limit: 100 })) as { reason: string; actor: string; outcome: string }[];
    for (const action of ["resource.put", "resource.delete", "resource-policy.set", "attestation-policy.set", "reference-value.add", "reference-value.delete"]) {
      expect(entries.some((e) => e.reason === action && e.actor === "admin:ops/test" && e.outcome === "ok"), action).toBe(true);
    }
    const readerOnly = await mintAdminToken(t.admin.privateJwk, { keyId: "ops", subject: "bob", roles: ["reader"] });
    await expect(putResource({ url: t.url, token: readerOnly }, "app/key/z", Buffer.from("z"))).rejects.toMatchObject({ status: 403, variant: "AdminForbidden" });
  });
});
