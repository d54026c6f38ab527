// Decoded JWT claims are read as `any` below: each field used is asserted explicitly.
import { afterAll, beforeAll, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { decodeJwt } from "jose";
import { addReferenceValue, putResource, setAttestationPolicy, setResourcePolicy } from "../admin-client.js";
import { KbsClient } from "../../attestation/agent/kbs-client.js";
import { generateAttestedKeys } from "../../attestation/agent/keys.js";
import { TpmAttester } from "../../attestation/attesters/tpm.js";
import { describeWithSwtpm, startSwtpm, type Swtpm } from "../../testing/swtpm.js";
import { createTestDatabase, type TestDatabase } from "../../testing/postgres.js";
import { auditRows, startTestKbs, type TestKbs } from "./helpers.js";

// The tests read decoded EAR claims deep (submods.cpu0["ear.status"] …) and assert each value, so a
// wrong path fails the assertion; typing every claim path here would only restate the assertions.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type DecodedClaims = Record<string, any>;

describeWithSwtpm("KBS full flow with a real swtpm quote over real HTTP (production mode)", () => {
  let tpm: Swtpm;
  let attester: TpmAttester;
  let pg: TestDatabase;
  let t: TestKbs;
  let untrusted: TestKbs;
  const secret = randomBytes(32);

  beforeAll(async () => {
    tpm = await startSwtpm();
    // A measured "boot": PCR 7 is no longer all zeros.
    await tpm.tool("tpm2_pcrextend", [`7:sha256=${randomBytes(32).toString("hex")}`]);
    attester = new TpmAttester({ tcti: tpm.tcti, pcrCount: 8 });
    const ak = await attester.akPublic();
    pg = await createTestDatabase("kbs_tpm");
    const masterKey = randomBytes(32).toString("base64");
    t = await startTestKbs({ databaseUrl: pg.url, developmentMode: false, masterKey, verifiers: { tpm: { trustedAkFingerprints: [ak.fingerprint] } } });
    // A second KBS on the same data that has not enrolled this AK.
    untrusted = await startTestKbs({ databaseUrl: pg.url, developmentMode: false, masterKey, verifiers: { tpm: { trustedAkFingerprints: [] } } }, undefined, t.admin);
    await putResource(t.conn, "tpm/key/one", secret);
  }, 120_000);
  afterAll(async () => {
    await untrusted?.close();
    await t?.close();
    await pg?.drop();
    await tpm?.dispose();
  });

  const client = async (url: string) => new KbsClient({ url, attester, keys: await generateAttestedKeys(), extraRuntimeData: { "proplet-id": "tpm-proplet" } });

  it("a software TPM with an enrolled AK and no reference values is 'warning', and the default policy does not release", async () => {
    const c = await client(t.url);
    const { token } = await c.attest();
    const claims = decodeJwt(token) as DecodedClaims;
    const cpu0 = claims.submods.cpu0;
    expect(cpu0["ear.status"]).toBe("warning");
    const annotated = cpu0["ear.veraison.annotated-evidence"];
    expect(annotated.tee).toBe("tpm");
    expect(annotated.tpm.ak_trusted).toBe(true);
    expect(annotated.tpm.software_tpm).toBe(true);
    expect(Object.keys(annotated.tpm.pcrs)).toEqual(["0", "1", "2", "3", "4", "5", "6", "7"]);
    expect(annotated.tpm.pcrs["7"]).not.toBe("00".repeat(32));
    expect(annotated.runtime_data_claims["receipt-pubkey"]).toBeDefined();
    const failed = cpu0["propeller.appraisal"].checks.filter((x: { ok: boolean }) => !x.ok).map((x: { name: string }) => x.name);
    expect(failed).toEqual(expect.arrayContaining(["appraisal.hardware", "appraisal.reference-values"]));
    await setResourcePolicy(t.conn, "tpm/key/one", { allowedTees: ["tpm"], pcrs: { "7": [annotated.tpm.pcrs["7"]] } });
    await expect(c.getResource("tpm/key/one")).rejects.toThrow(/403.*ear\.status is "warning"/);
  });

  it("with the lab's attestation policy and PCR reference values it affirms and releases; the JWE decrypts", async () => {
    const probe = decodeJwt((await (await client(t.url)).attest()).token) as DecodedClaims;
    const pcrs = probe.submods.cpu0["ear.veraison.annotated-evidence"].tpm.pcrs as Record<string, string>;
    // An operator acknowledging a software TPM in the lab, and enrolling its boot PCRs.
    await setAttestationPolicy(t.conn, "tpm", { id: "lab/swtpm", requireReferenceValues: true, unsafeClaims: [] });
    for (const index of ["0", "7"]) {
      await addReferenceValue(t.conn, { tee: "tpm", claim: `/pcrs/${index}`, value: pcrs[index]!, expiresAt: new Date(Date.now() + 3600_000).toISOString() });
    }
    const c = await client(t.url);
    const plaintext = await c.getResource("kbs:///tpm/key/one");
    expect(Buffer.from(plaintext).equals(secret)).toBe(true);
    const claims = decodeJwt((await c.attest()).token) as DecodedClaims;
    expect(claims.submods.cpu0["ear.status"]).toBe("affirming");
    expect(claims.submods.cpu0["ear.appraisal-policy-id"]).toBe("lab/swtpm");
    expect(claims["propeller.development"]).toBeUndefined();
    const rows = await auditRows(t.kbs, "release");
    expect(rows.some((r) => r.subject === "tpm/key/one" && r.outcome === "ok" && /tpm/.test(r.reason ?? ""))).toBe(true);
  });

  it("a PCR outside the resource's allow-list is refused with the PCR named", async () => {
    await setResourcePolicy(t.conn, "tpm/key/one", { allowedTees: ["tpm"], pcrs: { "7": ["00".repeat(32), "ff".repeat(32)] } });
    const c = await client(t.url);
    await expect(c.getResource("tpm/key/one")).rejects.toThrow(/PCR7 \/pcrs\/7 is "[0-9a-f]{64}", not one of the 2 allowed/);
  });

  it("an AK that is not enrolled makes the attestation contraindicated and nothing is released", async () => {
    await setResourcePolicy(t.conn, "tpm/key/one", { allowedTees: ["tpm"] });
    const c = await client(untrusted.url);
    const claims = decodeJwt((await c.attest()).token) as DecodedClaims;
    expect(claims.submods.cpu0["ear.status"]).toBe("contraindicated");
    await expect(c.getResource("tpm/key/one")).rejects.toThrow(/403/);
  });
});
