import { describe, expect, it } from "vitest";
import { describeWithVectors } from "../../../testing/vectors.js";
import { encodeSnpEvidence } from "../evidence.js";
import { SnpVerifier } from "../verifier.js";
import { SnpConfigError } from "../config.js";
import { verifySnpReport } from "../verify.js";
import { buildFakeReport, createFakeAmd, signFakeReport } from "../testing/fake.js";
import { SNP, T } from "./vectors.js";

const failed = (r: { checks: { name: string; ok: boolean }[] }) => r.checks.filter((c) => !c.ok).map((c) => c.name);
const detail = (r: { checks: { name: string; detail?: string }[] }, n: string) => r.checks.find((c) => c.name === n)?.detail ?? "";
const crlChecks = (r: { checks: { name: string }[] }) => r.checks.map((c) => c.name).filter((n) => n.startsWith("snp.crl."));

describe("AMD KDS CRL of the ARK, with a fake AMD that really signs", async () => {
  const fake = await createFakeAmd("Milan");
  const tcb = { bootloader: 3, tee: 0, snp: 8, microcode: 115 };
  const chipId = Buffer.alloc(64, 0xab);
  const vcek = await fake.issueVek({ spls: tcb, hwId: chipId });
  const vlek = await fake.issueVek({ kind: "vlek", spls: tcb });
  const report = signFakeReport(buildFakeReport({ tcb, chipId }), vcek.key);
  const vlekReport = signFakeReport(buildFakeReport({ tcb, signingKey: "vlek" }), vlek.key);
  const now = new Date("2024-06-01T00:00:00Z");
  const current = { thisUpdate: new Date("2024-05-20T00:00:00Z"), nextUpdate: new Date("2024-06-20T00:00:00Z") };
  const verify = (crls: (Buffer | string)[] | undefined, r = report, vek = vcek.der, at = now) =>
    verifySnpReport(r, { vek, roots: fake.roots, now: at, ...(crls ? { crls } : {}) });

  it("without a CRL nothing changes: no snp.crl checks", async () => {
    const r = await verify(undefined);
    expect(failed(r)).toEqual([]);
    expect(crlChecks(r)).toEqual([]);
  });

  it("a current CRL signed by the ARK that revokes other serials passes", async () => {
    const r = await verify([await fake.issueCrl({ ...current, revokedSerials: ["7f", "0100"] })]);
    expect(failed(r)).toEqual([]);
    expect(crlChecks(r)).toEqual(["snp.crl.signature", "snp.crl.validity", "snp.crl.revocation"]);
  });

  it("a revoked ASK refuses the VCEK chain; a revoked ASVK the VLEK chain (PEM accepted)", async () => {
    const crl = await fake.issueCrl({ ...current, revokedSerials: [fake.ask.serialNumber] });
    const r = await verify([crl]);
    expect(failed(r)).toEqual(["snp.crl.revocation"]);
    expect(r.ok).toBe(false);
    expect(detail(r, "snp.crl.revocation")).toMatch(/ASK serial 2 is revoked by ARK-Milan/);
    // The same CRL does not name the ASVK, so the VLEK chain still verifies.
    expect(failed(await verify([crl], vlekReport, vlek.der))).toEqual([]);
    const asvkCrl = await fake.issueCrl({ ...current, revokedSerials: [fake.asvk.serialNumber] });
    const pem = `-----BEGIN X509 CRL-----\n${asvkCrl.toString("base64").replace(/(.{64})/g, "$1\n")}\n-----END X509 CRL-----\n`;
    const v = await verify([crl, pem], vlekReport, vlek.der);
    expect(failed(v)).toEqual(["snp.crl.revocation"]);
    expect(detail(v, "snp.crl.revocation")).toMatch(/ASVK serial 3 is revoked/);
  });

  it("a CRL with the ARK's name but another key's signature is refused", async () => {
    const impostor = await createFakeAmd("Milan");
    const r = await verify([await impostor.issueCrl(current)]);
    expect(failed(r)).toEqual(["snp.crl.signature"]);
    expect(detail(r, "snp.crl.signature")).toMatch(/not signed by the pinned ARK-Milan/);
  });

  it("an expired (or not yet current) CRL is refused, not used", async () => {
    const crl = await fake.issueCrl(current);
    const late = await verify([crl], report, vcek.der, new Date("2024-06-21T00:00:00Z"));
    expect(failed(late)).toEqual(["snp.crl.validity"]);
    expect(detail(late, "snp.crl.validity")).toMatch(/expired .*supply a current one/);
    // The signature result is cached until nextUpdate; after it, the CRL is still refused.
    expect(failed(await verify([crl]))).toEqual([]);
    const early = await verify([crl], report, vcek.der, new Date("2024-05-01T00:00:00Z"));
    expect(failed(early)).toEqual(["snp.crl.validity"]);
  });

  it("CRLs for another product only: refused rather than passed silently", async () => {
    const genoa = await createFakeAmd("Genoa");
    const r = await verify([await genoa.issueCrl(current)]);
    expect(failed(r)).toEqual(["snp.crl.signature"]);
    expect(detail(r, "snp.crl.signature")).toMatch(/no CRL issued by ARK-Milan/);
  });

  it("the verifier option parses CRLs at construction and refuses junk as a config error", async () => {
    expect(() => new SnpVerifier({ crls: [Buffer.from("not a crl")] })).toThrow(SnpConfigError);
    expect(() => new SnpVerifier({ crls: [Buffer.from("not a crl")] })).toThrow(/snp CRL 1: not a CRL/);
    expect(() => new SnpVerifier({ crls: Array(17).fill(Buffer.alloc(1)) })).toThrow(/at most 16/);
    const crl = await fake.issueCrl({ ...current, revokedSerials: [fake.ask.serialNumber] });
    const v = new SnpVerifier({ roots: fake.roots, crls: [crl] });
    const r = await v.verify(encodeSnpEvidence(report, { vcek: vcek.der }), { now });
    expect(failed(r)).toEqual(["snp.crl.revocation"]);
  });
});

describeWithVectors("AMD CRL against the real Milan chain", () => {
  it("a CRL naming ARK-Milan but not signed by AMD's key is refused for a real report", async () => {
    const impostor = await createFakeAmd("Milan");
    // The fake ARK has AMD's exact subject name, so only the signature tells the two apart.
    const crl = await impostor.issueCrl({ thisUpdate: new Date("2023-01-01T00:00:00Z"), nextUpdate: new Date("2030-01-01T00:00:00Z") });
    const base = await verifySnpReport(SNP.trReport(), { vek: SNP.trVcek(), now: T.trustee });
    expect(base.ok).toBe(true);
    const r = await verifySnpReport(SNP.trReport(), { vek: SNP.trVcek(), now: T.trustee, crls: [crl] });
    expect(failed(r)).toEqual(["snp.crl.signature"]);
    expect(detail(r, "snp.crl.signature")).toMatch(/not signed by the pinned ARK-Milan/);
  });
});
