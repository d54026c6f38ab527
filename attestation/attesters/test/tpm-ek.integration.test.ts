import { createHash, randomBytes } from "node:crypto";
import pino from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeWithSwtpm, startSwtpm, type Swtpm } from "../../../testing/swtpm.js";
import { EvidenceFormatError } from "../../errors.js";
import { TpmVerifier } from "../../tpm/verifier.js";
import { TpmAttester } from "../tpm.js";
import { TpmToolError } from "../tpm2-tools.js";

const logger = pino({ level: "silent" });

function failed(result: { checks: Array<{ name: string; ok: boolean }> }): string[] {
  return result.checks.filter((c) => !c.ok).map((c) => c.name);
}

function reportData(): Buffer {
  return createHash("sha384").update(randomBytes(32)).digest();
}

describeWithSwtpm("EK certificate from a manufactured swtpm (swtpm_setup + its own local CA)", () => {
  let tpm: Swtpm;
  let other: Swtpm;
  let fingerprint: string;
  let attester: TpmAttester;

  beforeAll(async () => {
    [tpm, other] = await Promise.all([startSwtpm({ manufacture: true }), startSwtpm({ manufacture: true })]);
    attester = new TpmAttester({ tcti: tpm.tcti, logger, includeEkCert: true });
    const ak = await attester.provision();
    expect(ak.ekCertBase64).toBeDefined();
    fingerprint = ak.fingerprint;
  });

  afterAll(async () => {
    await Promise.all([tpm?.dispose(), other?.dispose()]);
  });

  it("sends the EK certificate; it chains to the TPM's CA root", async () => {
    const rd = reportData();
    const evidence = await attester.evidence(rd);
    expect(evidence.ek_cert).toBeDefined();
    const verifier = new TpmVerifier({
      trustedAkFingerprints: [fingerprint],
      ekRoots: { roots: [tpm.ekCa!.rootPem], intermediates: [tpm.ekCa!.issuerPem] },
      requireEkCert: true,
    });
    const result = await verifier.verify(evidence, { reportData: rd });
    expect(failed(result)).toEqual([]);
    expect(result.checks.map((c) => c.name)).toContain("tpm.ek_chain");
    expect(result.claims.ek_cert).toEqual({ subject: "CN=unknown", issuer: "CN=swtpm-localca", verified: true });
  });

  it("fails tpm.ek_chain with another TPM's CA, without the intermediate, or outside the validity", async () => {
    const rd = reportData();
    const evidence = await attester.evidence(rd);
    const base = { trustedAkFingerprints: [fingerprint] };
    const wrongRoot = await new TpmVerifier({ ...base, ekRoots: { roots: [other.ekCa!.rootPem], intermediates: [other.ekCa!.issuerPem] } }).verify(evidence, { reportData: rd });
    expect(failed(wrongRoot)).toEqual(["tpm.ek_chain"]);
    expect(wrongRoot.claims.ek_cert?.verified).toBe(false);
    const noIntermediate = await new TpmVerifier({ ...base, ekRoots: { roots: [tpm.ekCa!.rootPem] } }).verify(evidence, { reportData: rd });
    expect(failed(noIntermediate)).toEqual(["tpm.ek_chain"]);
    const early = await new TpmVerifier({ ...base, ekRoots: { roots: [tpm.ekCa!.rootPem], intermediates: [tpm.ekCa!.issuerPem] } }).verify(evidence, {
      reportData: rd,
      now: new Date("2000-01-01T00:00:00Z"),
    });
    expect(failed(early)).toEqual(["tpm.ek_chain"]);
    expect(early.checks.find((c) => c.name === "tpm.ek_chain")!.detail).toMatch(/not valid at 2000-01-01/);
  });

  it("requireEkCert refuses evidence without ek_cert; a garbage ek_cert is EvidenceFormatError", async () => {
    const rd = reportData();
    const { ek_cert: _omitted, ...withoutCert } = await attester.evidence(rd);
    const ekRoots = { roots: [tpm.ekCa!.rootPem], intermediates: [tpm.ekCa!.issuerPem] };
    const result = await new TpmVerifier({ trustedAkFingerprints: [fingerprint], ekRoots, requireEkCert: true }).verify(withoutCert, { reportData: rd });
    expect(failed(result)).toEqual(["tpm.ek_chain"]);
    await expect(
      new TpmVerifier({ trustedAkFingerprints: [fingerprint], ekRoots }).verify({ ...withoutCert, ek_cert: Buffer.from("not a certificate").toString("base64") }, { reportData: rd }),
    ).rejects.toBeInstanceOf(EvidenceFormatError);
  });

  it("an unmanufactured swtpm has no EK certificate: includeEkCert fails loudly", async () => {
    const plain = await startSwtpm();
    try {
      await expect(new TpmAttester({ tcti: plain.tcti, logger, includeEkCert: true }).provision()).rejects.toBeInstanceOf(TpmToolError);
    } finally {
      await plain.dispose();
    }
  });
});
