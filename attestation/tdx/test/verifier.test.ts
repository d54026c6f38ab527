import pino from "pino";
import { describe, expect, it } from "vitest";
import { validateTeePolicy } from "../../appraisal/tee-policy.js";
import { appraised } from "../../appraisal/testing/appraised.js";
import { describeWithVectors, readVector } from "../../../testing/vectors.js";
import { EvidenceFormatError } from "../../errors.js";
import { PolicyError } from "../appraise.js";
import { decodeTdxEvidence, encodeTdxEvidence, quoteFromEvidenceFile } from "../evidence.js";
import { clearTdxCaches, tdxCacheStats } from "../caches.js";
import { verifyTdxQuote } from "../verify-quote.js";
import { TdxVerifier } from "../verifier.js";
import { parseTdxQuote } from "../quote.js";
import { fakeCollateral, fakePki, fakeQuote, FAKE_EPOCH } from "../testing/fake-dcap.js";
import { collateralSet, failedNames, QUOTES } from "./tdx-vectors.js";

const silent = pino({ level: "silent" });

describe("Trustee TDX evidence JSON", () => {
  it("decodes {quote, cc_eventlog} and rejects anything else", () => {
    const quote = Buffer.from("quote bytes");
    const ev = decodeTdxEvidence(encodeTdxEvidence(quote, Buffer.from("ccel")));
    expect(ev.quote).toEqual(quote);
    expect(ev.ccEventLog).toEqual(Buffer.from("ccel"));
    expect(decodeTdxEvidence({ quote: quote.toString("base64"), cc_eventlog: null }).ccEventLog).toBeUndefined();
    expect(decodeTdxEvidence({ quote: quote.toString("base64"), aa_eventlog: "INIT sha384/00" }).aaEventLog).toBe("INIT sha384/00");
    for (const bad of [
      null,
      "x",
      {},
      { quote: 1 },
      { quote: "not base64!" },
      { quote: quote.toString("base64url").replace(/=/g, "") + "-_" },
      { quote: quote.toString("base64"), extra: 1 },
      { quote: "A".repeat(100_000) },
    ]) {
      expect(() => decodeTdxEvidence(bad), JSON.stringify(bad)?.slice(0, 40)).toThrow(EvidenceFormatError);
    }
  });
});

describeWithVectors("TdxVerifier (Trustee evidence → verify → appraise)", () => {
  it("tdx_quote_6 with collateral chosen by FMSPC: verified, OutOfDate, so not ok (contraindicated)", async () => {
    const { collateral, now } = collateralSet("trustee-2025");
    const asked: string[] = [];
    const verifier = appraised(
      new TdxVerifier({
        collateral: async (fmspc) => {
          asked.push(fmspc);
          return fmspc === "00a06d080000" ? collateral : undefined;
        },
        requireCrls: false,
        logger: silent,
      }),
    );
    const quote = readVector(QUOTES.q6);
    const r = await verifier.verify(encodeTdxEvidence(quote), { now, reportData: parseTdxQuote(quote).body.reportData });
    expect(asked).toEqual(["00a06d080000"]);
    expect(r.tee).toBe("tdx");
    expect(r.claims.tcb_status).toBe("OutOfDate");
    expect(r.claims.ear_status).toBe("contraindicated");
    expect(r.claims.cc_eventlog_present).toBe(false);
    expect(failedNames(r.checks)).toEqual(["tdx.policy.tcb_status"]);
    expect(r.ok).toBe(false);
    expect(r.claims).toMatchObject({
      mrtd: "21e8dead92d6c69d7cbba79816686c03a48485c7df0c11f6f04792d5e1d378f6b8c46615ba6946adccac6becffbb1e88",
      fmspc: "00a06d080000",
      pcesvn: 11,
      tee_tcb_svn: "05030200000000000000000000000000",
      td_attributes: { debug: false, sept_ve_disable: true, pks: false, kl: false, perfmon: false },
      xfam: expect.stringMatching(/^[0-9a-f]{16}$/),
    });
    expect(r.claims.rtmr2).not.toBe("00".repeat(48));
  });

  it("a policy that tolerates OutOfDate (warning) accepts it; a wrong nonce still fails", async () => {
    const { collateral, now } = collateralSet("trustee-2025");
    const verifier = appraised(new TdxVerifier({ collateral, requireCrls: false }), { tcbStatus: { OutOfDate: "warning" } });
    const quote = readVector(QUOTES.q6);
    const ok = await verifier.verify(encodeTdxEvidence(quote), { now });
    expect(ok.claims.ear_status).toBe("warning");
    expect(ok.ok).toBe(true);
    const wrongNonce = await verifier.verify(encodeTdxEvidence(quote), { now, reportData: Buffer.alloc(64, 7) });
    expect(wrongNonce.ok).toBe(false);
    expect(failedNames(wrongNonce.checks)).toEqual(["tdx.report_data", "tdx.policy.verified"]);
  });

  it("no collateral for the platform: not ok, and says so", async () => {
    const verifier = new TdxVerifier({ collateral: async () => undefined });
    const r = await verifier.verify(encodeTdxEvidence(readVector(QUOTES.q4)), { now: new Date("2026-02-03T00:00:00Z") });
    expect(r.ok).toBe(false);
    expect(failedNames(r.checks)).toContain("tdx.collateral");
  });

  it("malformed evidence or quote bytes throw EvidenceFormatError", async () => {
    const verifier = new TdxVerifier({ collateral: async () => undefined });
    await expect(verifier.verify({ quote: "AAAA" }, {})).rejects.toThrow(EvidenceFormatError);
    await expect(verifier.verify({ nope: 1 }, {})).rejects.toThrow(EvidenceFormatError);
    const cut = readVector(QUOTES.q4).subarray(0, 1000);
    await expect(verifier.verify(encodeTdxEvidence(cut), {})).rejects.toThrow(EvidenceFormatError);
  });

  it("an invalid policy fails its validation (at start-up)", () => {
    expect(() => validateTeePolicy("tdx", { allowDebug: "yes" })).toThrow(PolicyError);
  });
});

describeWithVectors("evidence files and caches (for the CLI and the benchmark)", () => {
  it("reads a quote from Trustee evidence JSON or from raw bytes", () => {
    const quote = readVector(QUOTES.q4);
    expect(quoteFromEvidenceFile(quote)).toEqual(quote);
    expect(quoteFromEvidenceFile(Buffer.from(JSON.stringify(encodeTdxEvidence(quote))))).toEqual(quote);
    expect(() => quoteFromEvidenceFile(Buffer.from("{ not json"))).toThrow(EvidenceFormatError);
  });

  it("a repeated verification is served from the caches and gives the same checks", async () => {
    const { collateral, now } = collateralSet("2023");
    const quote = readVector(QUOTES.spr);
    clearTdxCaches();
    const cold = await verifyTdxQuote(quote, { collateral, now });
    const afterCold = tdxCacheStats();
    expect(afterCold.chains.size).toBe(2); // PCK chain and TCB Signing chain
    expect(afterCold.crls.size).toBe(2);
    expect(afterCold.collateralDocuments.size).toBe(2);
    expect(afterCold.pckExtensions.size).toBe(1);
    const warm = await verifyTdxQuote(quote, { collateral, now });
    const afterWarm = tdxCacheStats();
    expect(afterWarm.chains.hits - afterCold.chains.hits).toBe(2);
    expect(afterWarm.crls.hits - afterCold.crls.hits).toBe(2);
    expect(afterWarm.collateralDocuments.hits - afterCold.collateralDocuments.hits).toBe(2);
    expect(afterWarm.pckExtensions.hits - afterCold.pckExtensions.hits).toBe(1);
    expect(warm.result.checks).toEqual(cold.result.checks);
    expect(warm.result.claims).toEqual(cold.result.claims);
    // Time checks are not cached: the same cached chain at another time fails validity.
    const later = await verifyTdxQuote(quote, { collateral, now: new Date("2024-06-01T00:00:00Z") });
    expect(failedNames(later.result.checks)).toEqual(expect.arrayContaining(["tdx.collateral.tcb_info.validity", "tdx.crl.pck.validity"]));
  });
});

describe("TdxVerifier with a fake PKI", () => {
  it("an up-to-date production TD with fresh collateral and CRLs is ok and affirming", async () => {
    const pki = await fakePki();
    const reportData = Buffer.alloc(64, 0x5c);
    const q = await fakeQuote(pki, { reportData, version: 5 });
    const verifier = appraised(new TdxVerifier({ collateral: await fakeCollateral(pki), trustAnchorPem: pki.rootPem }));
    const r = await verifier.verify(encodeTdxEvidence(q.bytes), { now: FAKE_EPOCH, reportData: reportData.subarray(0, 48) });
    // 48 bytes expected vs 64 in the quote: zero-padded comparison fails because the quote has 0x5c there.
    expect(failedNames(r.checks)).toEqual(["tdx.report_data", "tdx.policy.verified"]);
    const exact = await verifier.verify(encodeTdxEvidence(q.bytes), { now: FAKE_EPOCH, reportData });
    expect(failedNames(exact.checks)).toEqual([]);
    expect(exact.ok).toBe(true);
    expect(exact.claims.ear_status).toBe("affirming");
    expect(exact.claims.quote_version).toBe(5);
  });
});
