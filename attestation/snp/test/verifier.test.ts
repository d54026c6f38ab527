import { describe, expect, it } from "vitest";
import { describeWithVectors, readVector } from "../../../testing/vectors.js";
import { EvidenceFormatError } from "../../errors.js";
import { buildCertTable, decodeSnpEvidence, encodeSnpEvidence, parseCertTable, type SnpEvidenceJson } from "../evidence.js";
import { SnpVerifier } from "../verifier.js";
import { validateTeePolicy } from "../../appraisal/tee-policy.js";
import { appraised } from "../../appraisal/testing/appraised.js";
import { SNP, T } from "./vectors.js";

const failed = (r: { checks: { name: string; ok: boolean }[] }): string[] => r.checks.filter((c) => !c.ok).map((c) => c.name);
const clone = <V>(v: V): V => JSON.parse(JSON.stringify(v)) as V;

function allReports(): Array<[string, Buffer]> {
  const hcl = (b: Buffer) => b.subarray(0x20, 0x20 + 0x4a0);
  const az = (f: string) => Buffer.from(JSON.parse(readVector(`azure-snp-vtpm/trustee/${f}`).toString("utf8")).hcl_report as string, "base64url");
  const genoa = JSON.parse(readVector("azure-snp-vtpm/trustee/evidence-genoa.json").toString("utf8")) as { report: number[] };
  return [
    ["attestation.bin", SNP.gsgReport()],
    ["test-report.bin", SNP.trReport()],
    ["test-vlek-report.bin", SNP.vlekReport()],
    ["hcl-report.bin", hcl(readVector("azure-snp-vtpm/trustee/hcl-report.bin"))],
    ["evidence-v1.json", hcl(az("evidence-v1.json"))],
    ["evidence-genoa.json", hcl(Buffer.from(genoa.report))],
  ];
}

describeWithVectors("Trustee SNP evidence JSON", () => {
  it("every real report survives bytes → Trustee JSON → bytes unchanged", () => {
    for (const [name, bytes] of allReports()) {
      const json = JSON.parse(JSON.stringify(encodeSnpEvidence(bytes))) as unknown;
      expect(decodeSnpEvidence(json).report.equals(bytes), name).toBe(true);
    }
  });

  it("SnpVerifier verifies the evidence with the VCEK in cert_chain and appraises it", async () => {
    const evidence = encodeSnpEvidence(SNP.trReport(), { vcek: SNP.trVcek() });
    const r = await appraised(new SnpVerifier()).verify(evidence, { now: T.trustee });
    expect(failed(r)).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.tee).toBe("snp");
    expect(r.checks.map((c) => c.name)).toContain("snp.policy.debug");
  });

  it("with report data expected, a different nonce fails snp.report_data", async () => {
    const evidence = encodeSnpEvidence(SNP.trReport(), { vcek: SNP.trVcek() });
    const good = Buffer.from("ec6c52d7533cc2c4f45be7849cf112ab82b2009fe7bd43e71ed08c14400ad7e2", "hex");
    expect((await appraised(new SnpVerifier()).verify(evidence, { now: T.trustee, reportData: good })).ok).toBe(true);
    const r = await appraised(new SnpVerifier()).verify(evidence, { now: T.trustee, reportData: Buffer.alloc(32, 1) });
    expect(failed(r)).toEqual(["snp.report_data"]);
  });

  it("a field changed in the JSON breaks the signature", async () => {
    const evidence = clone(encodeSnpEvidence(SNP.trReport(), { vcek: SNP.trVcek() }));
    evidence.attestation_report.measurement[0] = (evidence.attestation_report.measurement[0]! + 1) & 0xff;
    const r = await appraised(new SnpVerifier()).verify(evidence, { now: T.trustee });
    expect(failed(r)).toEqual(["snp.signature"]);
    const vmpl = clone(encodeSnpEvidence(SNP.trReport(), { vcek: SNP.trVcek() }));
    vmpl.attestation_report.vmpl = 0;
    vmpl.attestation_report.guest_svn = 9;
    expect(failed(await appraised(new SnpVerifier()).verify(vmpl, { now: T.trustee }))).toEqual(["snp.signature"]);
  });

  it("the debug report is refused by the default SNP rules, verifies without them, accepted when debug is allowed", async () => {
    const evidence = encodeSnpEvidence(SNP.gsgReport(), { vcek: SNP.gsgVcek() });
    expect(failed(await appraised(new SnpVerifier()).verify(evidence, { now: T.gsg }))).toEqual(["snp.policy.debug"]);
    expect((await new SnpVerifier().verify(evidence, { now: T.gsg })).ok).toBe(true);
    expect((await appraised(new SnpVerifier(), { allowDebug: true }).verify(evidence, { now: T.gsg })).ok).toBe(true);
  });

  it("VLEK evidence with ASVK and ARK in cert_chain: VMPL 1 refused by default, accepted when allowed; expired after 2025-12-10", async () => {
    const [asvk, ark] = (SNP.chain("milan_vlek").toString("utf8").match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map((p) =>
      Buffer.from(p.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""), "base64"),
    );
    const evidence = encodeSnpEvidence(SNP.vlekReport(), { vlek: SNP.vlek(), ask: asvk!, ark: ark! });
    expect(evidence.cert_chain?.map((c) => c.cert_type)).toEqual(["VLEK", "ASK", "ARK"]);
    expect(failed(await appraised(new SnpVerifier()).verify(evidence, { now: T.vlek }))).toEqual(["snp.policy.vmpl"]);
    const allowVmpl1 = appraised(new SnpVerifier(), { allowedVmpls: [1] });
    expect((await allowVmpl1.verify(evidence, { now: T.vlek })).ok).toBe(true);
    expect(failed(await allowVmpl1.verify(evidence, { now: new Date("2025-12-11T00:00:00Z") }))).toEqual(["snp.validity.vek"]);
  });

  it("evidence without a certificate fails snp.vek unless findVek supplies one", async () => {
    const evidence = encodeSnpEvidence(SNP.trReport());
    expect(evidence.cert_chain).toBeNull();
    expect(failed(await appraised(new SnpVerifier()).verify(evidence, { now: T.trustee }))).toEqual(["snp.vek", "snp.signature"]);
    const withStore = appraised(new SnpVerifier({ findVek: async (report) => (report.chipId.toString("hex").startsWith("c38427a3") ? SNP.trVcek() : undefined) }));
    expect((await withStore.verify(evidence, { now: T.trustee })).ok).toBe(true);
  });

  it("malformed evidence is an EvidenceFormatError", async () => {
    const good = encodeSnpEvidence(SNP.trReport(), { vcek: SNP.trVcek() });
    const v = new SnpVerifier();
    const cases: Array<(e: SnpEvidenceJson & Record<string, unknown>) => void> = [
      (e) => void (e.attestation_report.measurement = e.attestation_report.measurement.slice(1)),
      (e) => void ((e.attestation_report as Record<string, unknown>).extra = 1),
      (e) => void (e.attestation_report.policy = -1),
      (e) => void (e.attestation_report.report_data[0] = 256),
      (e) => void (e.attestation_report.version = 7),
      (e) => void (e.attestation_report.sig_algo = 2),
      (e) => void (e.attestation_report.reported_tcb.fmc = 1),
      (e) => void (e.attestation_report.cpuid_fam_id = 0x19),
      (e) => void (e.attestation_report.launch_mit_vector = 1),
      (e) => void (e.cert_chain = [{ cert_type: "VCEK", data: [1] }, { cert_type: "VCEK", data: [2] }]),
      (e) => void (e.cert_chain = [{ cert_type: "BOGUS" as "VCEK", data: [] }]),
      (e) => void (e.unexpected = true),
    ];
    for (const [i, mutate] of cases.entries()) {
      const e = clone(good) as SnpEvidenceJson & Record<string, unknown>;
      mutate(e);
      await expect(v.verify(e, { now: T.trustee }), `case ${i}`).rejects.toBeInstanceOf(EvidenceFormatError);
    }
    await expect(v.verify(null, {})).rejects.toBeInstanceOf(EvidenceFormatError);
    await expect(v.verify("report", {})).rejects.toBeInstanceOf(EvidenceFormatError);
  });
});

describe("extended report certificate table (auxblob)", () => {
  it("round-trips, ignores unknown GUIDs, and refuses malformed tables", () => {
    const certs = { vcek: Buffer.from("vcek-bytes"), ask: Buffer.from("ask"), ark: Buffer.from("ark!") };
    const table = buildCertTable(certs);
    expect(parseCertTable(table)).toEqual(certs);
    // The VCEK GUID in RFC 4122 byte order opens the table.
    expect(table.subarray(0, 16).toString("hex")).toBe("63da758de6644564adc5f4b93be8accd");
    expect(parseCertTable(new Uint8Array(0))).toEqual({});

    const noTerminator = table.subarray(0, 3 * 24);
    expect(() => parseCertTable(noTerminator)).toThrow(EvidenceFormatError);
    const outside = Buffer.from(table);
    outside.writeUInt32LE(table.byteLength, 16 + 4); // length past the end
    expect(() => parseCertTable(outside)).toThrow(/outside/);
    const intoHeader = Buffer.from(table);
    intoHeader.writeUInt32LE(0, 16); // offset inside the header
    expect(() => parseCertTable(intoHeader)).toThrow(/outside/);

    const unknown = Buffer.from(table);
    unknown[0] = 0x00; // a GUID nobody knows: skipped
    expect(parseCertTable(unknown)).toEqual({ ask: certs.ask, ark: certs.ark });
  });
});

describe("verifier options are validated at construction", () => {
  it("a bad policy throws SnpConfigError; a good one is accepted", async () => {
    const { SnpConfigError } = await import("../config.js");
    const bad: unknown[] = [
      { allowDebug: "yes" },
      { allowedVmpls: [4] },
      { minimumTcb: { snp: 300 } },
      { allowedMeasurements: ["abcd"] },
      { allowedSigningKeys: ["none"] },
      { unknownOption: true },
      { minimumFirmware: "latest" },
    ];
    for (const policy of bad) {
      expect(() => validateTeePolicy("snp", policy), JSON.stringify(policy)).toThrow(SnpConfigError);
      expect(() => validateTeePolicy("az-snp-vtpm", policy), JSON.stringify(policy)).toThrow(SnpConfigError);
    }
    expect(validateTeePolicy("snp", { allowedVmpls: [0, 1], minimumTcb: { snp: 8 }, allowedMeasurements: ["ab".repeat(48)], minimumFirmware: "1.55" })).toBeTruthy();
    expect(() => validateTeePolicy("tpm", {})).toThrow(/no rules of its own/);
  });
});
