import { describe, expect, it } from "vitest";
import { describeWithVectors, readVector } from "../../../testing/vectors.js";
import { bundledAmdRoots, ChainCache } from "../certs.js";
import { parseSnpReport } from "../report.js";
import { verifySnpReport, type SnpVerifyOptions } from "../verify.js";
import { buildFakeReport, createFakeAmd, signFakeReport } from "../testing/fake.js";
import { flip, SNP, T } from "./vectors.js";

const failed = (r: { checks: { name: string; ok: boolean }[] }): string[] => r.checks.filter((c) => !c.ok).map((c) => c.name);

interface Genuine {
  name: string;
  report: () => Buffer;
  vek: () => Buffer;
  chain: () => Buffer;
  at: Date;
  notBefore: Date;
  notAfter: Date;
}

const GENUINE: Genuine[] = [
  {
    name: "go-sev-guest attestation.bin + vcek.testcer",
    report: SNP.gsgReport,
    vek: SNP.gsgVcek,
    chain: () => SNP.chain("milan"),
    at: T.gsg,
    notBefore: new Date("2022-09-24T00:55:28Z"),
    notAfter: new Date("2029-09-24T00:55:28Z"),
  },
  {
    name: "trustee test-report.bin + test-vcek.der",
    report: SNP.trReport,
    vek: SNP.trVcek,
    chain: () => SNP.chain("milan"),
    at: T.trustee,
    notBefore: new Date("2023-01-24T17:58:26Z"),
    notAfter: new Date("2030-01-24T17:58:26Z"),
  },
  {
    name: "trustee test-vlek-report.bin + test-vlek.der (VLEK, ASVK chain)",
    report: SNP.vlekReport,
    vek: SNP.vlek,
    chain: () => SNP.chain("milan_vlek"),
    at: T.vlek,
    notBefore: new Date("2024-12-10T22:14:21Z"),
    notAfter: new Date("2025-12-10T22:14:21Z"),
  },
];

describeWithVectors("verifySnpReport on the real SNP vectors", () => {
  for (const g of GENUINE) {
    describe(g.name, () => {
      it("verifies at T with the pinned chain, and with the chain file supplied", async () => {
        const r = await verifySnpReport(g.report(), { vek: g.vek(), now: g.at });
        expect(failed(r)).toEqual([]);
        expect(r.ok).toBe(true);
        for (const name of ["snp.vek", "snp.product", "snp.chain.ark", "snp.chain.ask", "snp.chain.vek", "snp.signature", "snp.tcb", "snp.chip_id"]) {
          expect(r.checks.find((c) => c.name === name)?.ok, name).toBe(true);
        }
        const withChain = await verifySnpReport(g.report(), { vek: g.vek(), chains: g.chain(), now: g.at });
        expect(withChain.ok).toBe(true);
      });

      it("one bit flipped in the signed region (MEASUREMENT) fails snp.signature only", async () => {
        const r = await verifySnpReport(flip(g.report(), 0x90 + 7), { vek: g.vek(), now: g.at });
        expect(failed(r)).toEqual(["snp.signature"]);
      });

      it("one bit flipped in the signature (R) fails snp.signature only", async () => {
        const r = await verifySnpReport(flip(g.report(), 0x2a0 + 3), { vek: g.vek(), now: g.at });
        expect(failed(r)).toEqual(["snp.signature"]);
      });

      it("one bit flipped in the VEK certificate's signature fails snp.chain.vek", async () => {
        const vek = g.vek();
        const r = await verifySnpReport(g.report(), { vek: flip(vek, vek.byteLength - 5), now: g.at });
        expect(failed(r)).toEqual(["snp.chain.vek"]);
      });

      it("one bit flipped in the VEK's public key fails snp.chain.vek and snp.signature", async () => {
        const vek = g.vek();
        // The P-384 point sits just before the extensions; find it by its uncompressed-point prefix.
        const at = vek.indexOf(Buffer.from([0x03, 0x62, 0x00, 0x04]));
        expect(at).toBeGreaterThan(0);
        const r = await verifySnpReport(g.report(), { vek: flip(vek, at + 20), now: g.at });
        expect(failed(r)).toContain("snp.chain.vek");
        expect(failed(r)).toContain("snp.signature");
      });

      it("one bit flipped in the ASK of a supplied chain fails snp.chain.ask", async () => {
        const pem = g.chain().toString("utf8");
        const [askPem] = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)!;
        const der = Buffer.from(askPem!.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""), "base64");
        const tampered = flip(der, der.byteLength - 9);
        const r = await verifySnpReport(g.report(), { vek: g.vek(), chains: [tampered], now: g.at });
        expect(failed(r)).toContain("snp.chain.ask");
        expect(r.ok).toBe(false);
      });

      it("fails snp.validity.vek after the VEK expired and before it was valid", async () => {
        const after = await verifySnpReport(g.report(), { vek: g.vek(), now: new Date(g.notAfter.getTime() + 1000) });
        expect(failed(after)).toEqual(["snp.validity.vek"]);
        expect(after.checks.find((c) => c.name === "snp.validity.vek")?.detail).toMatch(/expired/);
        const before = await verifySnpReport(g.report(), { vek: g.vek(), now: new Date(g.notBefore.getTime() - 1000) });
        expect(failed(before)).toContain("snp.validity.vek");
        expect(before.checks.find((c) => c.name === "snp.validity.vek")?.detail).toMatch(/not yet valid/);
      });

      it("binds REPORT_DATA when expected", async () => {
        const reportData = parseSnpReport(g.report()).reportData;
        const good = await verifySnpReport(g.report(), { vek: g.vek(), now: g.at, reportData });
        expect(good.checks.find((c) => c.name === "snp.report_data")?.ok).toBe(true);
        const bad = await verifySnpReport(g.report(), { vek: g.vek(), now: g.at, reportData: flip(reportData, 0) });
        expect(failed(bad)).toEqual(["snp.report_data"]);
      });
    });
  }

  it("documented claims: attestation.bin (debug policy, TCB 2/0/5/68)", async () => {
    const r = await verifySnpReport(SNP.gsgReport(), { vek: SNP.gsgVcek(), now: T.gsg });
    expect(r.claims).toMatchObject({
      report_version: 2,
      product: "Milan",
      signing_key: "vcek",
      vmpl: 0,
      measurement: "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01",
      report_data: "0102030405" + "00".repeat(59),
      reported_tcb: { bootloader: 2, tee: 0, snp: 5, microcode: 68 },
      policy: { raw: "00000000000b0000", debug_allowed: true },
      current_firmware: "1.49.3",
      vek: { product_name: "Milan-B0" },
    });
    expect(r.claims.chip_id).toMatch(/^3ac3fe21.*006b5d$/);
  });

  it("documented claims: the VLEK report (VMPL 1, chip_id zero, platform_info 0x27)", async () => {
    const r = await verifySnpReport(SNP.vlekReport(), { vek: SNP.vlek(), now: T.vlek });
    expect(r.claims).toMatchObject({
      report_version: 3,
      signing_key: "vlek",
      vmpl: 1,
      chip_id: "00".repeat(64),
      reported_tcb: { bootloader: 4, tee: 0, snp: 24, microcode: 217 },
      platform_info: { raw: "0000000000000027" },
      cpuid: { family: 0x19, model: 0x01, stepping: 0x01 },
      vek: { product_name: "Milan", csp_id: "CN=cc-us-east-2.amazonaws.com" },
    });
    expect(r.claims.report_data).toMatch(/^819770b7.*a7bc27ca$/);
  });

  it("the VLEK expired on 2025-12-10", async () => {
    const r = await verifySnpReport(SNP.vlekReport(), { vek: SNP.vlek(), now: new Date("2025-12-11T00:00:00Z") });
    expect(failed(r)).toEqual(["snp.validity.vek"]);
  });

  it("wrong roots: the Genoa chain supplied for a Milan VCEK fails ARK, ASK and VEK", async () => {
    const r = await verifySnpReport(SNP.trReport(), { vek: SNP.trVcek(), chains: SNP.chain("genoa"), now: T.trustee });
    expect(failed(r)).toEqual(["snp.chain.ark", "snp.chain.ask", "snp.chain.vek"]);
  });

  it("wrong roots: Genoa roots pinned as Milan's fail the chain", async () => {
    const genoa = bundledAmdRoots().Genoa!;
    const r = await verifySnpReport(SNP.trReport(), { vek: SNP.trVcek(), roots: { Milan: genoa }, now: T.trustee });
    expect(failed(r)).toEqual(["snp.chain.ask", "snp.chain.vek"]);
  });

  it("a VLEK chain (ASVK) cannot stand in for the ASK of a VCEK", async () => {
    const r = await verifySnpReport(SNP.trReport(), { vek: SNP.trVcek(), chains: SNP.chain("milan_vlek"), now: T.trustee });
    expect(failed(r)).toEqual([]); // the ASVK is not picked as the VCEK's intermediate: the pinned ASK is used
    const onlyAsvk = await verifySnpReport(SNP.trReport(), {
      vek: SNP.trVcek(),
      roots: { Milan: { ...bundledAmdRoots().Milan!, ask: bundledAmdRoots().Milan!.asvk } },
      now: T.trustee,
    });
    expect(failed(onlyAsvk)).toEqual(["snp.chain.ask", "snp.chain.vek"]);
  });

  it("the two synthetic invalid VCEKs fail the chain (and do not match the report)", async () => {
    for (const vek of [SNP.invalidLegacy(), SNP.invalidNew()]) {
      const r = await verifySnpReport(SNP.trReport(), { vek, now: T.trustee });
      expect(failed(r)).toEqual(["snp.chain.vek", "snp.signature", "snp.tcb", "snp.chip_id"]);
    }
  });

  it("a VCEK for another chip fails snp.signature, snp.tcb and snp.chip_id", async () => {
    const r = await verifySnpReport(SNP.trReport(), { vek: SNP.gsgVcek(), now: T.trustee });
    expect(failed(r)).toEqual(["snp.signature", "snp.tcb", "snp.chip_id"]);
  });

  it("a VCEK for a VLEK-signed report fails snp.vek", async () => {
    const r = await verifySnpReport(SNP.vlekReport(), { vek: SNP.trVcek(), now: T.vlek });
    expect(failed(r)).toContain("snp.vek");
  });

  it("no certificate: fails snp.vek and snp.signature", async () => {
    const r = await verifySnpReport(SNP.trReport(), { now: T.trustee });
    expect(failed(r)).toEqual(["snp.vek", "snp.signature"]);
    expect(r.ok).toBe(false);
  });

  it("Azure's VCEK bundle (VCEK, SEV-Milan, ARK-Milan) verifies the report inside the HCL report", async () => {
    const hcl = readVector("azure-snp-vtpm/trustee/hcl-report.bin");
    const r = await verifySnpReport(hcl.subarray(0x20, 0x20 + 0x4a0), {
      vek: readVector("azure-snp-vtpm/trustee/vcek.pem"),
      now: new Date("2025-06-01T00:00:00Z"),
    });
    expect(failed(r)).toEqual([]);
    expect(r.claims.measurement).toBe("9ac48fcac8a2d88aeeff8d427ad4f2be0e3917c748a18bdf52cc317e7fe20308b459d5ef1a12e0c22944eb386d17c315");
  });

  it("a Genoa v3 report verifies with the Genoa VCEK and the pinned Genoa roots, not the Milan ones", async () => {
    const ev = JSON.parse(readVector("azure-snp-vtpm/trustee/evidence-genoa.json").toString("utf8")) as { report: number[] };
    const report = Buffer.from(ev.report).subarray(0x20, 0x20 + 0x4a0);
    const vek = readVector("azure-snp-vtpm/trustee/vcek-genoa.pem");
    const ok = await verifySnpReport(report, { vek, now: new Date("2025-06-01T00:00:00Z") });
    expect(failed(ok)).toEqual([]);
    expect(ok.claims.product).toBe("Genoa");
    const milan = await verifySnpReport(report, { vek, chains: SNP.chain("milan"), now: new Date("2025-06-01T00:00:00Z") });
    expect(failed(milan)).toEqual(["snp.chain.ark", "snp.chain.ask", "snp.chain.vek"]);
  });

  it("a shared ChainCache gives the same answers", async () => {
    const cache = new ChainCache(8);
    const opts: SnpVerifyOptions = { vek: SNP.trVcek(), now: T.trustee, cache };
    const a = await verifySnpReport(SNP.trReport(), opts);
    const b = await verifySnpReport(SNP.trReport(), opts);
    expect(a.ok && b.ok).toBe(true);
    expect(cache.size).toBe(3);
    const bad = await verifySnpReport(SNP.trReport(), { ...opts, vek: SNP.invalidNew() });
    expect(failed(bad)).toContain("snp.chain.vek");
  });
});

describe("verifySnpReport with a fake AMD that really signs", () => {
  it("Turin: fmc SPL is compared, the 8-byte hwID matches CHIP_ID[0..8], CPUID and productName must agree", async () => {
    const fake = await createFakeAmd("Turin");
    const chipId = Buffer.concat([Buffer.from("0102030405060708", "hex"), Buffer.alloc(56)]);
    const tcb = { fmc: 1, bootloader: 2, tee: 3, snp: 4, microcode: 5 };
    const vcek = await fake.issueVek({ productName: "Turin-B0", spls: tcb, hwId: chipId.subarray(0, 8), hwIdAsOctetString: true });
    const report = signFakeReport(buildFakeReport({ cpuid: { family: 0x1a, model: 0x02, stepping: 0 }, tcb, chipId }), vcek.key);
    const now = new Date("2024-06-01T00:00:00Z");
    const r = await verifySnpReport(report, { vek: vcek.der, roots: fake.roots, now });
    expect(failed(r)).toEqual([]);
    expect(r.claims.reported_tcb).toMatchObject(tcb);

    const wrongFmc = await fake.issueVek({ productName: "Turin-B0", spls: { ...tcb, fmc: 0 }, hwId: chipId.subarray(0, 8) });
    const r2 = await verifySnpReport(signFakeReport(buildFakeReport({ cpuid: { family: 0x1a, model: 0x02, stepping: 0 }, tcb, chipId }), wrongFmc.key), {
      vek: wrongFmc.der,
      roots: fake.roots,
      now,
    });
    expect(failed(r2)).toEqual(["snp.tcb"]);

    const milanCpuid = signFakeReport(buildFakeReport({ cpuid: { family: 0x19, model: 0x01, stepping: 0 }, tcb: { bootloader: 2, tee: 3, snp: 4, microcode: 5 }, chipId }), vcek.key);
    const r3 = await verifySnpReport(milanCpuid, { vek: vcek.der, roots: fake.roots, now });
    expect(failed(r3)).toEqual(["snp.product", "snp.signature"]);
  });
});
