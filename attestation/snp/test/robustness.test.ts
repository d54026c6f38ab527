import { describe, expect, it } from "vitest";
import { describeWithVectors, readVector } from "../../../testing/vectors.js";
import { EvidenceFormatError } from "../../errors.js";
import { parseHclReport } from "../../az-snp-vtpm/hcl.js";
import { decodeAzSnpVtpmEvidence } from "../../az-snp-vtpm/evidence.js";
import { buildCertTable, decodeSnpEvidence, encodeSnpEvidence, parseCertTable, readSnpEvidenceFile } from "../evidence.js";
import { parseSnpReport } from "../report.js";
import { verifySnpReport } from "../verify.js";
import { buildFakeReport, createFakeAmd, signFakeReport } from "../testing/fake.js";
import { SNP, T } from "./vectors.js";
import { messageOf } from "../../../lib/errors.js";

/** Deterministic xorshift PRNG so a failure reproduces. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

/** Runs `fn` on `n` mutants of `seed` (random bytes overwritten, or truncated); only EvidenceFormatError may escape. */
function fuzz(seed: Buffer, n: number, fn: (b: Buffer) => unknown): { parsed: number; refused: number } {
  const next = rng(seed.byteLength * 7919);
  let parsed = 0;
  let refused = 0;
  for (let i = 0; i < n; i++) {
    let b = Buffer.from(seed);
    const edits = 1 + (next() % 4);
    for (let k = 0; k < edits; k++) b[next() % b.byteLength] = next() & 0xff;
    if (next() % 10 === 0) b = b.subarray(0, next() % b.byteLength);
    try {
      fn(b);
      parsed++;
    } catch (err) {
      if (!(err instanceof EvidenceFormatError)) throw new Error(`mutant ${i} threw ${(err as Error).name}: ${messageOf(err)}`);
      refused++;
    }
  }
  return { parsed, refused };
}

describeWithVectors("parsers refuse garbage with EvidenceFormatError only", () => {
  it("parseSnpReport on 3000 mutants of real reports", () => {
    for (const seed of [SNP.gsgReport(), SNP.trReport(), SNP.vlekReport()]) {
      const r = fuzz(seed, 1000, parseSnpReport);
      expect(r.parsed).toBeGreaterThan(0);
      expect(r.refused).toBeGreaterThan(0);
    }
  });

  it("parseHclReport and the certificate table on mutants", () => {
    const hcl = fuzz(readVector("azure-snp-vtpm/trustee/hcl-report.bin"), 1000, parseHclReport);
    expect(hcl.parsed + hcl.refused).toBe(1000);
    const table = buildCertTable({ vcek: SNP.trVcek(), ask: Buffer.alloc(100, 1), ark: Buffer.alloc(90, 2) });
    const t = fuzz(table, 1000, parseCertTable);
    expect(t.parsed + t.refused).toBe(1000);
  });

  it("JSON decoders refuse wrong types and shapes", () => {
    const good = JSON.parse(JSON.stringify(encodeSnpEvidence(SNP.trReport(), { vcek: SNP.trVcek() }))) as Record<string, unknown>;
    const values: unknown[] = [undefined, null, 0, -1, 1.5, "x", [], {}, true, 2 ** 60];
    const next = rng(42);
    const report = good.attestation_report as Record<string, unknown>;
    const keys = Object.keys(report);
    let refused = 0;
    for (let i = 0; i < 300; i++) {
      const r = { ...report, [keys[next() % keys.length]!]: values[next() % values.length] };
      try {
        decodeSnpEvidence({ ...good, attestation_report: r });
      } catch (err) {
        expect(err).toBeInstanceOf(EvidenceFormatError);
        refused++;
      }
    }
    // Every value above is wrong for every field except `undefined` on the optional ones.
    expect(refused).toBeGreaterThan(250);
    const az = JSON.parse(readVector("azure-snp-vtpm/trustee/evidence-v1.json").toString("utf8")) as Record<string, unknown>;
    for (const k of Object.keys(az)) {
      for (const v of values) {
        try {
          decodeAzSnpVtpmEvidence({ ...az, [k]: v });
          throw new Error(`accepted ${k} = ${JSON.stringify(v)}`);
        } catch (err) {
          expect(err, `${k} = ${JSON.stringify(v)}`).toBeInstanceOf(EvidenceFormatError);
        }
      }
    }
  });
});

describeWithVectors("readSnpEvidenceFile", () => {
  it("reads a raw report, a report with its certificate table, and Trustee JSON", async () => {
    expect(readSnpEvidenceFile(SNP.trReport()).report.equals(SNP.trReport())).toBe(true);
    const withTable = readSnpEvidenceFile(Buffer.concat([SNP.trReport(), buildCertTable({ vcek: SNP.trVcek() })]));
    expect(withTable.certs.vcek?.equals(SNP.trVcek())).toBe(true);
    const r = await verifySnpReport(withTable.report, { vek: withTable.certs.vcek!, now: T.trustee });
    expect(r.ok).toBe(true);
    const json = Buffer.from(JSON.stringify(encodeSnpEvidence(SNP.trReport(), { vcek: SNP.trVcek() }), null, 2));
    const fromJson = readSnpEvidenceFile(json);
    expect(fromJson.report.equals(SNP.trReport())).toBe(true);
    expect(fromJson.certs.vcek?.equals(SNP.trVcek())).toBe(true);
    expect(() => readSnpEvidenceFile(SNP.trReport().subarray(0, 100))).toThrow(EvidenceFormatError);
    expect(() => readSnpEvidenceFile(Buffer.from("{ not json"))).toThrow(EvidenceFormatError);
  });
});

describe("hwID length is tied to the product", () => {
  it("an 8-byte hwID on a Milan VCEK fails snp.chip_id", async () => {
    const fake = await createFakeAmd("Milan");
    const chipId = Buffer.concat([Buffer.alloc(8, 0xcd), Buffer.alloc(56, 0xef)]);
    const vcek = await fake.issueVek({ hwId: chipId.subarray(0, 8) });
    const report = signFakeReport(buildFakeReport({ chipId }), vcek.key);
    const r = await verifySnpReport(report, { vek: vcek.der, roots: fake.roots, now: new Date("2024-01-01T00:00:00Z") });
    expect(r.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(["snp.chip_id"]);
    const full = await fake.issueVek({ hwId: chipId });
    const ok = await verifySnpReport(signFakeReport(buildFakeReport({ chipId }), full.key), { vek: full.der, roots: fake.roots, now: new Date("2024-01-01T00:00:00Z") });
    expect(ok.ok).toBe(true);
  });
});
