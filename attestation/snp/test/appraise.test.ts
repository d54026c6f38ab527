import { beforeAll, describe, expect, it } from "vitest";
import { describeWithVectors } from "../../../testing/vectors.js";
import { appraiseSnpClaims } from "../appraise.js";
import { verifySnpReport, type SnpClaims } from "../verify.js";
import { buildFakeReport, createFakeAmd, signFakeReport, type FakeAmd, type FakeReportFields, type FakeVek } from "../testing/fake.js";
import { SNP, T } from "./vectors.js";

const failed = (a: { checks: { name: string; ok: boolean }[] }): string[] => a.checks.filter((c) => !c.ok).map((c) => c.name);

describeWithVectors("appraisal of the real vectors", () => {
  it("attestation.bin allows debugging: the default policy refuses it, allowDebug accepts it", async () => {
    const v = await verifySnpReport(SNP.gsgReport(), { vek: SNP.gsgVcek(), now: T.gsg });
    expect(v.ok).toBe(true);
    const a = appraiseSnpClaims(v.claims);
    expect(a.ok).toBe(false);
    expect(failed(a)).toEqual(["snp.policy.debug"]);
    expect(appraiseSnpClaims(v.claims, { allowDebug: true }).ok).toBe(true);
  });

  it("the VLEK report is VMPL 1: refused by default, accepted with VMPL 1 allowed", async () => {
    const v = await verifySnpReport(SNP.vlekReport(), { vek: SNP.vlek(), now: T.vlek });
    expect(v.ok).toBe(true);
    expect(failed(appraiseSnpClaims(v.claims))).toEqual(["snp.policy.vmpl"]);
    expect(appraiseSnpClaims(v.claims, { allowedVmpls: [0, 1] }).ok).toBe(true);
    expect(failed(appraiseSnpClaims(v.claims, { allowedVmpls: [0, 1], allowedSigningKeys: ["vcek"] }))).toEqual(["snp.policy.signing_key"]);
  });

  it("trustee test-report.bin passes the default policy; reference values and minimum TCB apply", async () => {
    const v = await verifySnpReport(SNP.trReport(), { vek: SNP.trVcek(), now: T.trustee });
    expect(appraiseSnpClaims(v.claims).ok).toBe(true);
    const m = v.claims.measurement;
    expect(appraiseSnpClaims(v.claims, { allowedMeasurements: [m.toUpperCase()] }).ok).toBe(true);
    expect(failed(appraiseSnpClaims(v.claims, { allowedMeasurements: ["00".repeat(48)] }))).toEqual(["snp.policy.measurement"]);
    expect(failed(appraiseSnpClaims(v.claims, { allowedMeasurements: [] }))).toEqual(["snp.policy.measurement"]);
    expect(appraiseSnpClaims(v.claims, { minimumTcb: { bootloader: 3, snp: 8, microcode: 115 } }).ok).toBe(true);
    const low = appraiseSnpClaims(v.claims, { minimumTcb: { microcode: 116 } });
    expect(failed(low)).toEqual(["snp.policy.tcb"]);
    expect(low.checks.find((c) => c.name === "snp.policy.tcb")?.detail).toMatch(/microcode/);
    expect(failed(appraiseSnpClaims(v.claims, { minimumGuestSvn: 5 }))).toEqual(["snp.policy.guest_svn"]);
    expect(appraiseSnpClaims(v.claims, { minimumGuestSvn: 4, allowedIdKeyDigests: [v.claims.id_key_digest] }).ok).toBe(true);
    expect(failed(appraiseSnpClaims(v.claims, { minimumFirmware: "1.53" }))).toEqual(["snp.policy.firmware"]);
    expect(appraiseSnpClaims(v.claims, { minimumFirmware: "1.52" }).ok).toBe(true);
  });
});

describe("appraisal branches with a fake AMD that really signs", () => {
  let fake: FakeAmd;
  let vcek: FakeVek;
  const now = new Date("2024-06-01T00:00:00Z");
  beforeAll(async () => {
    fake = await createFakeAmd("Milan");
    vcek = await fake.issueVek();
  });

  async function claimsFor(fields: FakeReportFields): Promise<SnpClaims> {
    const r = await verifySnpReport(signFakeReport(buildFakeReport(fields), vcek.key), { vek: vcek.der, roots: fake.roots, now });
    expect(r.checks.filter((c) => !c.ok)).toEqual([]);
    return r.claims;
  }

  it("a clean guest passes the default policy", async () => {
    expect(appraiseSnpClaims(await claimsFor({})).ok).toBe(true);
  });

  it("debug policy bit (19) fails", async () => {
    const c = await claimsFor({ policy: 0x30000n | (1n << 19n) });
    expect(c.policy.debug_allowed).toBe(true);
    expect(failed(appraiseSnpClaims(c))).toEqual(["snp.policy.debug"]);
  });

  it("migration agent bit (18) fails unless allowed", async () => {
    const c = await claimsFor({ policy: 0x30000n | (1n << 18n) });
    expect(failed(appraiseSnpClaims(c))).toEqual(["snp.policy.migrate_ma"]);
    expect(appraiseSnpClaims(c, { allowMigrationAgent: true }).ok).toBe(true);
  });

  it("VMPL 2 and 3 fail by default; allowed VMPLs are honoured exactly", async () => {
    for (const vmpl of [1, 2, 3]) {
      const c = await claimsFor({ vmpl });
      expect(failed(appraiseSnpClaims(c))).toEqual(["snp.policy.vmpl"]);
      expect(appraiseSnpClaims(c, { allowedVmpls: [vmpl] }).ok).toBe(true);
      expect(appraiseSnpClaims(c, { allowedVmpls: [] }).ok).toBe(false);
    }
  });

  it("minimum TCB: each component below the minimum fails", async () => {
    const c = await claimsFor({});
    const base = { bootloader: 3, tee: 0, snp: 8, microcode: 115 };
    expect(appraiseSnpClaims(c, { minimumTcb: base }).ok).toBe(true);
    for (const k of ["bootloader", "tee", "snp", "microcode"] as const) {
      const a = appraiseSnpClaims(c, { minimumTcb: { ...base, [k]: base[k] + 1 } });
      expect(failed(a), k).toEqual(["snp.policy.tcb"]);
    }
  });

  it("host data allow-list", async () => {
    const c = await claimsFor({ hostData: Buffer.alloc(32, 7) });
    expect(appraiseSnpClaims(c, { allowedHostData: ["07".repeat(32)] }).ok).toBe(true);
    expect(failed(appraiseSnpClaims(c, { allowedHostData: ["08".repeat(32)] }))).toEqual(["snp.policy.host_data"]);
  });
});
