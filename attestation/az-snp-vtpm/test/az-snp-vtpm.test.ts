import { expect, it, describe } from "vitest";
import { describeWithVectors, readVector } from "../../../testing/vectors.js";
import { EvidenceFormatError } from "../../errors.js";
import { bundledAmdRoots } from "../../snp/certs.js";
import { parseHclReport, HCL_SNP_REPORT_OFFSET, HCL_VAR_DATA_OFFSET } from "../hcl.js";
import { decodeAzSnpVtpmEvidence } from "../evidence.js";
import { verifyAzSnpVtpmEvidence } from "../verify.js";
import { AzSnpVtpmVerifier } from "../verifier.js";
import { appraised } from "../../appraisal/testing/appraised.js";

const failed = (r: { checks: { name: string; ok: boolean }[] }): string[] => r.checks.filter((c) => !c.ok).map((c) => c.name);
const AZ = (f: string) => readVector(`azure-snp-vtpm/trustee/${f}`);
const json = (f: string) => JSON.parse(AZ(f).toString("utf8")) as Record<string, unknown>;
const T = new Date("2025-06-01T00:00:00Z");
const CHALLENGE = Buffer.from("challenge");
const NONCE_V2 = Buffer.from("982f5c6e45df0ed3f10b6f60b02f0c8390e281300f3805e2279c16168cd6ae9aa398f647caa2338748cd0fd9f5f819ef", "hex");
const NONCE_GENOA = Buffer.from("0218488bae25d2509232bf676f1a66a30d7372add909109b36016ef136f2938ca05475f8b46094de6b64270ea35d950f", "hex");

/** hcl-report.bin + tpm-quote-v1.json + the VCEK leaf of vcek.pem, as v1 evidence. */
function hclV1Evidence(): Record<string, unknown> {
  const leafPem = AZ("vcek.pem").toString("utf8").match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/)![0];
  const der = Buffer.from(leafPem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""), "base64");
  return { version: 1, tpm_quote: json("tpm-quote-v1.json"), hcl_report: AZ("hcl-report.bin").toString("base64url"), vcek: der.toString("base64url") };
}

interface Case {
  name: string;
  evidence: () => Record<string, unknown>;
  nonce: Buffer;
  pcr0: string;
  measurement: string;
  tcb: { bootloader: number; tee: number; snp: number; microcode: number };
  product: string;
  reportVersion: number;
  /** Where the HCL report is and how it is encoded. */
  hclField: "hcl_report" | "report";
}

const CASES: Case[] = [
  {
    name: "hcl-report.bin + tpm-quote-v1.json (SNP v2, Milan)",
    evidence: hclV1Evidence,
    nonce: CHALLENGE,
    pcr0: "f3a7e99a5f819a034386bce753a48a73cfdaa0bea0ecfc124bedbf5a8c4799be",
    measurement: "9ac48fcac8a2d88aeeff8d427ad4f2be0e3917c748a18bdf52cc317e7fe20308b459d5ef1a12e0c22944eb386d17c315",
    tcb: { bootloader: 3, tee: 0, snp: 8, microcode: 115 },
    product: "Milan",
    reportVersion: 2,
    hclField: "hcl_report",
  },
  {
    name: "evidence-v1.json (SNP v3, Milan)",
    evidence: () => json("evidence-v1.json"),
    nonce: CHALLENGE,
    pcr0: "e15c44796beabf46abcec7c57e590942041e47497e4ec27571c8b7664f48dced",
    measurement: "6a063be9dd79f6371c842e480f8dc3b5c725961344e57130e88c5adf49e8f7f6c79b75a5eb77fc769959f4aeb2f9401e",
    tcb: { bootloader: 4, tee: 0, snp: 24, microcode: 219 },
    product: "Milan",
    reportVersion: 3,
    hclField: "hcl_report",
  },
  {
    name: "evidence-v2.json (user-data carries the nonce)",
    evidence: () => json("evidence-v2.json"),
    nonce: NONCE_V2,
    pcr0: "84275b2f4312cd4fc6cbe6b152ad3c3683e513d9f1e23c34fca160c8cca7a6a7",
    measurement: "5b0ce64ad1c1f6375dbda5f760b98526ca1bcf91b8195091afc28e7b024251d68fe32e05af34048d6607678cd23283ff",
    tcb: { bootloader: 4, tee: 0, snp: 24, microcode: 219 },
    product: "Milan",
    reportVersion: 3,
    hclField: "hcl_report",
  },
  {
    name: "evidence-genoa.json (v0 format, SNP v3 Genoa)",
    evidence: () => json("evidence-genoa.json"),
    nonce: NONCE_GENOA,
    pcr0: "afd689d0bb1c5f36f023fbaf574135f555a28a10c1f6b938d2a25e70c7783338",
    measurement: "f57dc09a507c6ecd82369bffb600f0003792f4d99bc26e985ec0c266fc34faf3706faf814c9e61065768a6ff917c89ae",
    tcb: { bootloader: 10, tee: 0, snp: 23, microcode: 84 },
    product: "Genoa",
    reportVersion: 3,
    hclField: "report",
  },
];

function getHcl(c: Case, e: Record<string, unknown>): Buffer {
  return c.hclField === "report" ? Buffer.from(e.report as number[]) : Buffer.from(e.hcl_report as string, "base64url");
}
function setHcl(c: Case, e: Record<string, unknown>, b: Buffer): void {
  if (c.hclField === "report") e.report = [...b];
  else e.hcl_report = b.toString("base64url");
}
function mutateHcl(c: Case, mutate: (b: Buffer) => void): Record<string, unknown> {
  const e = c.evidence();
  const b = getHcl(c, e);
  mutate(b);
  setHcl(c, e, b);
  return e;
}
function mutateQuote(c: Case, field: "message" | "signature", offset: (len: number) => number): Record<string, unknown> {
  const e = c.evidence();
  if (c.hclField === "report") {
    const q = e.quote as Record<string, number[]>;
    const arr = q[field]!;
    const i = offset(arr.length);
    arr[i] = arr[i]! ^ 1;
  } else {
    const q = e.tpm_quote as Record<string, string>;
    const b = Buffer.from(q[field]!, "hex");
    const i = offset(b.length);
    b[i] = b[i]! ^ 1;
    q[field] = b.toString("hex");
  }
  return e;
}

describeWithVectors("az-snp-vtpm on the real Azure vectors", () => {
  for (const c of CASES) {
    describe(c.name, () => {
      it("verifies at T with the documented nonce and claims, and passes the default SNP policy", async () => {
        const r = await appraised(new AzSnpVtpmVerifier()).verify(c.evidence(), { now: T, reportData: c.nonce });
        expect(failed(r)).toEqual([]);
        expect(r.ok).toBe(true);
        expect(r.tee).toBe("az-snp-vtpm");
        const names = r.checks.map((x) => x.name);
        for (const n of ["snp.signature", "snp.chain.vek", "snp.tcb", "snp.chip_id", "az.var_data", "az.tpm.signature", "az.tpm.pcr_digest", "az.tpm.nonce", "snp.policy.vmpl"]) {
          expect(names).toContain(n);
        }
        expect(r.claims.tpm.pcrs["0"]).toBe(c.pcr0);
        expect(Object.keys(r.claims.tpm.pcrs)).toHaveLength(24);
        expect(r.claims.tpm.nonce).toBe(c.nonce.toString("hex"));
        expect(r.claims.snp.measurement).toBe(c.measurement);
        expect(r.claims.snp.reported_tcb).toMatchObject(c.tcb);
        expect(r.claims.snp.product).toBe(c.product);
        expect(r.claims.snp.report_version).toBe(c.reportVersion);
        expect(r.claims.snp.vmpl).toBe(0);
        expect(r.claims.snp.report_data.startsWith(r.claims.hcl.var_data_digest)).toBe(true);
      });

      it("a wrong nonce fails az.tpm.nonce (and az.user_data for v2)", async () => {
        const r = await verifyAzSnpVtpmEvidence(c.evidence(), { now: T, reportData: Buffer.from("another nonce") });
        const want = c.name.startsWith("evidence-v2") ? ["az.tpm.nonce", "az.user_data"] : ["az.tpm.nonce"];
        expect(failed(r)).toEqual(want);
      });

      it("one bit flipped in the SNP report's signed region (MEASUREMENT) fails snp.signature only", async () => {
        const e = mutateHcl(c, (b) => void (b[HCL_SNP_REPORT_OFFSET + 0x90 + 1] = b[HCL_SNP_REPORT_OFFSET + 0x90 + 1]! ^ 1));
        expect(failed(await verifyAzSnpVtpmEvidence(e, { now: T, reportData: c.nonce }))).toEqual(["snp.signature"]);
      });

      it("one bit flipped in the SNP report's REPORT_DATA fails snp.signature and az.var_data", async () => {
        const e = mutateHcl(c, (b) => void (b[HCL_SNP_REPORT_OFFSET + 0x50] = b[HCL_SNP_REPORT_OFFSET + 0x50]! ^ 1));
        expect(failed(await verifyAzSnpVtpmEvidence(e, { now: T, reportData: c.nonce }))).toEqual(["snp.signature", "az.var_data"]);
      });

      it("one bit flipped in the SNP signature fails snp.signature only", async () => {
        const e = mutateHcl(c, (b) => void (b[HCL_SNP_REPORT_OFFSET + 0x2a0 + 10] = b[HCL_SNP_REPORT_OFFSET + 0x2a0 + 10]! ^ 1));
        expect(failed(await verifyAzSnpVtpmEvidence(e, { now: T, reportData: c.nonce }))).toEqual(["snp.signature"]);
      });

      it("one bit flipped in var_data (outside HCLAkPub) fails az.var_data only", async () => {
        const e = mutateHcl(c, (b) => {
          const at = b.indexOf("HCLEkPub", HCL_VAR_DATA_OFFSET) + 40; // inside the EK's modulus string
          b[at] = b[at]! ^ 0x20; // letter case flip keeps it a base64url character
        });
        expect(failed(await verifyAzSnpVtpmEvidence(e, { now: T, reportData: c.nonce }))).toEqual(["az.var_data"]);
      });

      it("one bit flipped in the quote message fails az.tpm.signature (and the digest when it hits pcrDigest)", async () => {
        const e = mutateQuote(c, "message", (len) => len - 1);
        expect(failed(await verifyAzSnpVtpmEvidence(e, { now: T, reportData: c.nonce }))).toEqual(["az.tpm.signature", "az.tpm.pcr_digest"]);
      });

      it("one bit flipped in the quote signature fails az.tpm.signature only", async () => {
        const e = mutateQuote(c, "signature", (len) => len >> 1);
        expect(failed(await verifyAzSnpVtpmEvidence(e, { now: T, reportData: c.nonce }))).toEqual(["az.tpm.signature"]);
      });

      it("one PCR value changed fails az.tpm.pcr_digest only", async () => {
        const e = c.evidence();
        if (c.hclField === "report") {
          const pcrs = (e.quote as { pcrs: number[][] }).pcrs;
          pcrs[7]![0] = pcrs[7]![0]! ^ 1;
        } else {
          const q = e.tpm_quote as { pcrs: string[] };
          q.pcrs[7] = (q.pcrs[7]![0] === "0" ? "1" : "0") + q.pcrs[7]!.slice(1);
        }
        expect(failed(await verifyAzSnpVtpmEvidence(e, { now: T, reportData: c.nonce }))).toEqual(["az.tpm.pcr_digest"]);
      });

      it("one bit flipped in the VCEK's signature fails snp.chain.vek only", async () => {
        const e = c.evidence();
        if (c.hclField === "report") {
          const pem = e.vcek as string;
          const der = Buffer.from(pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""), "base64");
          der[der.length - 3] = der[der.length - 3]! ^ 1;
          e.vcek = `-----BEGIN CERTIFICATE-----\n${der.toString("base64")}\n-----END CERTIFICATE-----\n`;
        } else {
          const der = Buffer.from(e.vcek as string, "base64url");
          der[der.length - 3] = der[der.length - 3]! ^ 1;
          e.vcek = der.toString("base64url");
        }
        expect(failed(await verifyAzSnpVtpmEvidence(e, { now: T, reportData: c.nonce }))).toEqual(["snp.chain.vek"]);
      });

      it("before the VCEK's validity and after it, snp.validity.vek fails", async () => {
        const before = await verifyAzSnpVtpmEvidence(c.evidence(), { now: new Date("2020-01-01T00:00:00Z"), reportData: c.nonce });
        expect(failed(before)).toContain("snp.validity.vek");
        const after = await verifyAzSnpVtpmEvidence(c.evidence(), { now: new Date("2033-01-01T00:00:00Z"), reportData: c.nonce });
        expect(failed(after)).toEqual(["snp.validity.vek"]);
      });
    });
  }

  it("wrong roots: the Genoa evidence against Milan roots pinned as Genoa's fails the chain", async () => {
    const milan = bundledAmdRoots().Milan!;
    const r = await verifyAzSnpVtpmEvidence(json("evidence-genoa.json"), { now: T, reportData: NONCE_GENOA }, { roots: { Genoa: milan } });
    expect(failed(r)).toEqual(["snp.chain.ask", "snp.chain.vek"]);
  });

  it("the Genoa VCEK in Milan evidence fails product, and the report signature", async () => {
    const e = json("evidence-v1.json");
    e.vcek = Buffer.from(AZ("vcek-genoa.pem").toString("utf8").replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""), "base64").toString("base64url");
    const r = await verifyAzSnpVtpmEvidence(e, { now: T, reportData: CHALLENGE });
    expect(failed(r)).toEqual(["snp.product", "snp.signature"]);
  });

  it("without expected report data no nonce check is made (the caller decides freshness)", async () => {
    const r = await verifyAzSnpVtpmEvidence(json("evidence-v1.json"), { now: T });
    expect(r.checks.map((c) => c.name)).not.toContain("az.tpm.nonce");
    expect(r.ok).toBe(true);
  });

  it("parseHclReport: layout of hcl-report.bin", () => {
    const h = parseHclReport(AZ("hcl-report.bin"));
    expect(h.header).toEqual({ version: 1, reportSize: 2346, requestType: 2, status: 0 });
    expect(h.igvm).toEqual({ dataSize: 1130, version: 1, reportType: 2, hashType: 1, variableDataSize: 1110 });
    expect(h.varDataDigest.toString("hex")).toBe("b3fbad6514c83caeb0380882145e49f794229ef37c421b91fc47ff93556bafac");
    expect(h.akPub.asymmetricKeyType).toBe("rsa");
    expect(h.akPub.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(h.vmConfiguration).toBeDefined();
  });

  it("malformed HCL reports and evidence are EvidenceFormatErrors", async () => {
    const good = AZ("hcl-report.bin");
    const bad: Array<(b: Buffer) => Buffer> = [
      (b) => b.subarray(0, 0x4d0),
      (b) => (b.write("XXXX", 0), b),
      (b) => (b.writeUInt32LE(4, 0x4c0 + 8), b), // TDX
      (b) => (b.writeUInt32LE(9, 0x4c0 + 8), b),
      (b) => (b.writeUInt32LE(7, 0x4c0 + 12), b), // hash type
      (b) => (b.writeUInt32LE(5000, 0x4c0 + 16), b), // var_data past the end
      (b) => (b.writeUInt32LE(0, 0x4c0 + 16), b),
      (b) => (b.write("X", 0x4d4), b),
      (b) => {
        const at = b.indexOf("HCLAkPub");
        b.write("HCLXkPub", at);
        return b;
      },
    ];
    for (const [i, mutate] of bad.entries()) {
      expect(() => parseHclReport(mutate(Buffer.from(good))), `case ${i}`).toThrow(EvidenceFormatError);
    }
    const v1 = json("evidence-v1.json");
    for (const e of [{ ...v1, version: 3 }, { ...v1, vcek: "!!" }, { ...v1, extra: 1 }, { ...v1, tpm_quote: { ...(v1.tpm_quote as object), message: "zz" } }, {}, null, []]) {
      expect(() => decodeAzSnpVtpmEvidence(e)).toThrow(EvidenceFormatError);
    }
    await expect(appraised(new AzSnpVtpmVerifier()).verify({ ...v1, hcl_report: Buffer.alloc(100).toString("base64url") }, { now: T })).rejects.toBeInstanceOf(EvidenceFormatError);
  });
});

describe("decodeAzSnpVtpmEvidence", () => {
  it("tells v0 from v1/v2 by the version field", () => {
    const v0 = { quote: { signature: [1], message: [2], pcrs: [Array(32).fill(0)] }, report: [3], vcek: "pem" };
    expect(decodeAzSnpVtpmEvidence(v0).version).toBe(0);
    const v2 = { version: 2, tpm_quote: { signature: "01", message: "02", pcrs: ["00".repeat(32)] }, hcl_report: "AA==", vcek: "AA" };
    const d = decodeAzSnpVtpmEvidence(v2);
    expect(d.version).toBe(2);
    expect(d.hclReport).toEqual(Buffer.from([0]));
  });
});
