// Decoded JWT claims are read as `any` below: each field used is asserted explicitly.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { decodeJwt, flattenedDecrypt, type FlattenedJWE } from "jose";
import { addReferenceValue, putResource, setResourcePolicy } from "../admin-client.js";
import { SnpVerifier } from "../../attestation/snp/index.js";
import { encodeSnpEvidence } from "../../attestation/snp/evidence.js";
import { buildFakeReport, createFakeAmd, signFakeReport, type FakeAmd, type FakeVek } from "../../attestation/snp/testing/fake.js";
import { fitReportData } from "../../attestation/attester.js";
import { runtimeDataHash } from "../service/report-data.js";
import { createTestDatabase, type TestDatabase } from "../../testing/postgres.js";
import { attestRaw, auditRows, auth, getResource, teeKey, type TestKbs } from "./helpers.js";

// The tests read decoded EAR claims deep (submods.cpu0["ear.status"] …) and assert each value, so a
// wrong path fails the assertion; typing every claim path here would only restate the assertions.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type DecodedClaims = Record<string, any>;

/**
 * SNP in production mode with the real SnpVerifier and a fake AMD that really signs (its own
 * ARK/ASK/VCEK, passed as the pinned roots — the only substitution), over real HTTP.
 */
describe("KBS full flow with SNP evidence (real SnpVerifier, really-signing fake AMD chain)", () => {
  let amd: FakeAmd;
  let vcek: FakeVek;
  let pg: TestDatabase;
  let t: TestKbs;
  const secret = randomBytes(32);
  const measurement = randomBytes(48);

  beforeAll(async () => {
    amd = await createFakeAmd("Milan");
    vcek = await amd.issueVek();
    pg = await createTestDatabase("kbs_snp");
    t = await startTestKbsWithSnp();
    await putResource(t.conn, "snp/key/one", secret);
    await setResourcePolicy(t.conn, "snp/key/one", { allowedTees: ["snp"], measurement: [measurement.toString("hex")], minimums: { "/reported_tcb/snp": 8 }, claims: { "/vmpl": [0] } });
    await addReferenceValue(t.conn, { tee: "snp", claim: "/measurement", value: measurement.toString("hex"), expiresAt: new Date(Date.now() + 3600_000).toISOString() });
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    await pg?.drop();
  });

  async function startTestKbsWithSnp(): Promise<TestKbs> {
    const { startKbs } = await import("../server.js");
    const { adminKeygen, mintAdminToken } = await import("../admin-client.js");
    const { silent } = await import("./helpers.js");
    const admin = await adminKeygen({ id: "ops" });
    const masterKey = randomBytes(32).toString("base64");
    const kbs = await startKbs(
      { listen: { host: "127.0.0.1", port: 0 }, databaseUrl: pg.url, masterKey, developmentMode: false, admin: { keys: [{ id: "ops", publicKey: admin.publicJwk as Record<string, unknown>, roles: ["admin"] }] } },
      { logger: silent, verifiers: { snp: new SnpVerifier({ roots: amd.roots }) } },
    );
    return { kbs, url: kbs.url, admin, masterKey, conn: { url: kbs.url, token: () => mintAdminToken(admin.privateJwk, { keyId: "ops" }) }, close: () => kbs.close() };
  }

  async function attestSnp(fields: { policy?: bigint; measurement?: Buffer } = {}) {
    const key = await teeKey();
    const session = (await auth(t.url, "snp")).session!;
    const runtimeData = { nonce: session.nonce, "tee-pubkey": key.publicJwk, "receipt-pubkey": { kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" } };
    const reportData = fitReportData(runtimeDataHash(runtimeData, ""), 64);
    const report = signFakeReport(buildFakeReport({ reportData, measurement: fields.measurement ?? measurement, chipId: Buffer.alloc(64, 0xab), ...(fields.policy !== undefined ? { policy: fields.policy } : {}) }), vcek.key);
    const evidence = encodeSnpEvidence(report, { vcek: vcek.der });
    const response = await attestRaw(t.url, session.cookie, { "runtime-data": runtimeData, "tee-evidence": { primary_evidence: evidence, additional_evidence: "" } });
    expect(response.status).toBe(200);
    const { token } = (await response.json()) as { token: string };
    return { key, token, claims: decodeJwt(token) as DecodedClaims };
  }

  it("a genuine report bound to the session, with a known measurement, is affirmed and the resource released", async () => {
    const { key, token, claims } = await attestSnp();
    const cpu0 = claims.submods.cpu0;
    expect(cpu0["ear.status"]).toBe("affirming");
    expect(cpu0["ear.trustworthiness-vector"]).toMatchObject({ "instance-identity": 2, hardware: 2, executables: 2, configuration: 2 });
    expect(cpu0["ear.veraison.annotated-evidence"].snp.measurement).toBe(measurement.toString("hex"));
    expect(claims["propeller.development"]).toBeUndefined();
    const response = await getResource(t.url, "snp/key/one", { bearer: token });
    expect(response.status).toBe(200);
    const { plaintext } = await flattenedDecrypt((await response.json()) as FlattenedJWE, key.privateKey);
    expect(Buffer.from(plaintext).equals(secret)).toBe(true);
  });

  it("a debug-enabled guest is contraindicated and refused", async () => {
    const { token, claims } = await attestSnp({ policy: 0xb0000n });
    expect(claims.submods.cpu0["ear.status"]).toBe("contraindicated");
    const response = await getResource(t.url, "snp/key/one", { bearer: token });
    expect(response.status).toBe(403);
    expect(((await response.json()) as { detail: string }).detail).toMatch(/contraindicated/);
  });

  it("an unknown measurement is not affirmed (warning) and refused with the measurement named", async () => {
    const other = randomBytes(48);
    const { token, claims } = await attestSnp({ measurement: other });
    expect(claims.submods.cpu0["ear.status"]).toBe("warning");
    const response = await getResource(t.url, "snp/key/one", { bearer: token });
    expect(response.status).toBe(403);
    const detail = ((await response.json()) as { detail: string }).detail;
    expect(detail).toContain(`measurement /measurement is "${other.toString("hex")}"`);
    expect((await auditRows(t.kbs, "deny")).some((r) => r.reason === detail)).toBe(true);
  });

  it("a report bound to another nonce or key is contraindicated", async () => {
    const key = await teeKey();
    const session = (await auth(t.url, "snp")).session!;
    const runtimeData = { nonce: session.nonce, "tee-pubkey": key.publicJwk };
    const report = signFakeReport(buildFakeReport({ reportData: randomBytes(64), measurement, chipId: Buffer.alloc(64, 0xab) }), vcek.key);
    const response = await attestRaw(t.url, session.cookie, { "runtime-data": runtimeData, "tee-evidence": { primary_evidence: encodeSnpEvidence(report, { vcek: vcek.der }), additional_evidence: "" } });
    const claims = decodeJwt(((await response.json()) as { token: string }).token) as DecodedClaims;
    expect(claims.submods.cpu0["ear.status"]).toBe("contraindicated");
    const failed = claims.submods.cpu0["propeller.appraisal"].checks.filter((c: { ok: boolean }) => !c.ok).map((c: { name: string }) => c.name);
    expect(failed.some((n: string) => /report_data/.test(n))).toBe(true);
  });
});
