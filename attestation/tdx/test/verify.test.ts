import { describe, expect, it } from "vitest";
import { describeWithVectors, readVector } from "../../../testing/vectors.js";
import { EvidenceFormatError } from "../../errors.js";
import { CheckList } from "../../result.js";
import { BoundedCache, type ChainEntry, intelSgxRoot, trustAnchorFromPem } from "../chain.js";
import { parseTdxQuote } from "../quote.js";
import { verifyQuoteSignatures } from "../verify.js";
import { verifyTdxQuote } from "../verify-quote.js";
import { fakePki } from "../testing/fake-dcap.js";
import { collateralSet, failedNames, QUOTES } from "./tdx-vectors.js";

/** Inside every real quote's PCK validity window (the latest PCK starts 2026-01-27). */
const T = new Date("2026-02-03T00:00:00Z");

function offline(bytes: Uint8Array, at = T, anchorPem?: string) {
  const checks = new CheckList();
  const quote = parseTdxQuote(bytes);
  const out = verifyQuoteSignatures(quote, anchorPem ? trustAnchorFromPem(anchorPem) : intelSgxRoot(), at, checks, new BoundedCache(8));
  return { checks, out, quote };
}

/** Offsets inside a parsed v4/v5 quote, computed from its structure. */
function layout(bytes: Uint8Array) {
  const q = parseTdxQuote(bytes);
  const sigLenAt = q.signedRegion.byteLength;
  const sigAt = sigLenAt + 4;
  const attKeyAt = sigAt + 64;
  const qeReportAt = attKeyAt + 64 + 6;
  const qeSigAt = qeReportAt + 384;
  const authAt = qeSigAt + 64 + 2;
  const pemAt = Buffer.from(bytes).indexOf("-----BEGIN CERTIFICATE-----");
  return { q, sigLenAt, sigAt, attKeyAt, qeReportAt, qeSigAt, authAt, pemAt };
}

function flip(bytes: Uint8Array, at: number): Buffer {
  const c = Buffer.from(bytes);
  c[at] = c[at]! ^ 0x01;
  return c;
}

/** Replace one byte of the PCK leaf's DER (inside its subject CN) and re-encode the PEM in place. */
function tamperPckLeaf(bytes: Uint8Array): Buffer {
  const { pemAt } = layout(bytes);
  const buf = Buffer.from(bytes);
  const end = buf.indexOf("-----END CERTIFICATE-----", pemAt) + "-----END CERTIFICATE-----".length;
  const pem = buf.subarray(pemAt, end).toString("latin1");
  const lines = pem.split("\n");
  const body = lines.slice(1, -1).join("");
  const der = Buffer.from(body, "base64");
  const at = der.indexOf("Intel SGX PCK Certificate");
  expect(at).toBeGreaterThan(0);
  der[at + 10] = der[at + 10]! ^ 0x01; // 'S' of SGX → 'R'
  const b64 = der.toString("base64");
  const widths = lines.slice(1, -1).map((l) => l.length);
  let pos = 0;
  const rewrapped = [lines[0], ...widths.map((w) => b64.slice(pos, (pos += w))), lines[lines.length - 1]].join("\n");
  expect(rewrapped.length).toBe(pem.length);
  Buffer.from(rewrapped, "latin1").copy(buf, pemAt);
  return buf;
}

describeWithVectors("TDX quote signatures and PCK chain (offline OK)", () => {
  for (const [name, file] of Object.entries(QUOTES)) {
    it(`${name}: quote signature, PCK chain to the pinned root, QE report signature and binding all hold`, () => {
      const { checks, out } = offline(readVector(file));
      expect(failedNames(checks.checks)).toEqual([]);
      expect(checks.checks.map((c) => c.name)).toEqual(
        expect.arrayContaining([
          "tdx.quote.qe_vendor",
          "tdx.quote.signature",
          "tdx.qe_report.binding",
          "tdx.pck.chain.root",
          "tdx.pck.chain.signatures",
          "tdx.pck.chain.validity",
          "tdx.qe_report.signature",
          "tdx.pck.extensions",
        ]),
      );
      expect(out.pck).toBeDefined();
    });
  }

  it("reads FMSPC, PCESVN and the SGX components from the PCK certificates", () => {
    const spr = offline(readVector(QUOTES.spr)).out.pck!;
    expect(Buffer.from(spr.fmspc).toString("hex")).toBe("50806f000000");
    expect(spr.pceSvn).toBe(11);
    const v5 = offline(readVector(QUOTES.v5)).out.pck!;
    expect(Buffer.from(v5.fmspc).toString("hex")).toBe("90c06f000000");
    expect(v5.pceSvn).toBe(13);
    expect(Buffer.from(offline(readVector(QUOTES.cos)).out.pck!.fmspc).toString("hex")).toBe("00806f050000");
    const q6 = offline(readVector(QUOTES.q6)).out.pck!;
    expect(Buffer.from(q6.fmspc).toString("hex")).toBe("00a06d080000");
    expect(q6.pceSvn).toBe(11);
    expect(q6.sgxType).toBe(2);
    expect(q6.tcbComponents.slice(0, 8)).toEqual([2, 2, 7, 7, 4, 1, 0, 2]);
    expect(Array.from(q6.cpuSvn.subarray(0, 8))).toEqual([2, 2, 7, 7, 4, 1, 0, 2]);
  });

  describe("one flipped byte fails the right check", () => {
    for (const file of [QUOTES.q4, QUOTES.v5]) {
      const bytes = readVector(file);
      const l = layout(bytes);

      it(`${file}: in the signed TD report (MRTD) → tdx.quote.signature`, () => {
        expect(failedNames(offline(flip(bytes, l.q.signedRegion.byteLength - 584 + 140)).checks.checks)).toEqual(["tdx.quote.signature"]);
      });
      it(`${file}: in the header → tdx.quote.signature`, () => {
        expect(failedNames(offline(flip(bytes, 30)).checks.checks)).toEqual(["tdx.quote.signature"]);
      });
      it(`${file}: in the quote signature → tdx.quote.signature`, () => {
        expect(failedNames(offline(flip(bytes, l.sigAt + 40)).checks.checks)).toEqual(["tdx.quote.signature"]);
      });
      it(`${file}: in the QE report → tdx.qe_report.signature`, () => {
        expect(failedNames(offline(flip(bytes, l.qeReportAt + 50)).checks.checks)).toEqual(["tdx.qe_report.signature"]);
      });
      it(`${file}: in the QE report's report_data → signature and binding`, () => {
        expect(failedNames(offline(flip(bytes, l.qeReportAt + 330)).checks.checks).sort()).toEqual(["tdx.qe_report.binding", "tdx.qe_report.signature"]);
      });
      it(`${file}: in the QE auth data → tdx.qe_report.binding`, () => {
        expect(failedNames(offline(flip(bytes, l.authAt + 3)).checks.checks)).toEqual(["tdx.qe_report.binding"]);
      });
      it(`${file}: in the attestation key → quote signature and binding`, () => {
        expect(failedNames(offline(flip(bytes, l.attKeyAt + 63)).checks.checks).sort()).toEqual(["tdx.qe_report.binding", "tdx.quote.signature"]);
      });
      it(`${file}: in the PCK certificate → tdx.pck.chain.signatures`, () => {
        expect(failedNames(offline(tamperPckLeaf(bytes)).checks.checks)).toEqual(["tdx.pck.chain.signatures"]);
      });
    }
  });

  it("any flipped byte: verifyTdxQuote throws only EvidenceFormatError, and a flip in signed or bound data fails a check", async () => {
    const bytes = readVector(QUOTES.q6);
    const { collateral, now } = collateralSet("trustee-2025");
    const l = layout(bytes);
    const boundEnd = l.authAt + l.q.certification.qeAuthData.byteLength;
    const positions = [...Array.from({ length: 120 }, (_, i) => Math.floor((i * l.q.quoteLength) / 120)), l.sigLenAt, ...Array.from({ length: 60 }, () => Math.floor(Math.random() * l.q.quoteLength))];
    let formatErrors = 0;
    for (const at of positions) {
      let result;
      try {
        result = (await verifyTdxQuote(flip(bytes, at), { collateral, now, requireCrls: false })).result;
      } catch (e) {
        expect(e, `byte ${at}`).toBeInstanceOf(EvidenceFormatError);
        formatErrors++;
        continue;
      }
      const failed = failedNames(result.checks);
      // signature_data_len is framing, not signed or bound: within the zero padding real quotes
      // carry after the certification data, ±1 there parses to the same content (byte 632 of q6).
      const framing = at >= l.sigLenAt && at < l.sigLenAt + 4;
      if (at < boundEnd && !framing) expect(failed.length, `byte ${at} changed signed or bound data but every check passed`).toBeGreaterThan(0);
    }
    // Length and type fields exist, so some flips are malformed input; most are not.
    expect(formatErrors).toBeGreaterThan(0);
    expect(formatErrors).toBeLessThan(positions.length / 2);
  });

  it("a chain that ends in another root fails tdx.pck.chain.root", async () => {
    const pki = await fakePki();
    const { checks } = offline(readVector(QUOTES.q6), T, pki.rootPem);
    expect(failedNames(checks.checks)).toContain("tdx.pck.chain.root");
    expect(checks.checks.find((c) => c.name === "tdx.pck.chain.root")?.detail).toContain("not the pinned root");
    expect(checks.ok).toBe(false);
  });

  it("PCK certificates not yet valid, or expired, fail tdx.pck.chain.validity", () => {
    const bytes = readVector(QUOTES.q6); // PCK valid 2025-04-08 → 2032
    expect(failedNames(offline(bytes, new Date("2025-01-01T00:00:00Z")).checks.checks)).toEqual(["tdx.pck.chain.validity"]);
    expect(failedNames(offline(bytes, new Date("2033-01-01T00:00:00Z")).checks.checks)).toEqual(["tdx.pck.chain.validity"]);
    expect(failedNames(offline(bytes, new Date("2025-06-01T00:00:00Z")).checks.checks)).toEqual([]);
  });

  it("verifyTdxQuote checks the expected report data", async () => {
    const bytes = readVector(QUOTES.q4);
    const rd = parseTdxQuote(bytes).body.reportData;
    const good = await verifyTdxQuote(bytes, { now: T, reportData: rd });
    expect(good.result.checks.find((c) => c.name === "tdx.report_data")?.ok).toBe(true);
    const bad = await verifyTdxQuote(bytes, { now: T, reportData: Buffer.alloc(64, 1) });
    expect(bad.result.checks.find((c) => c.name === "tdx.report_data")?.ok).toBe(false);
    // Without collateral the TCB is unknown, so the result is never ok.
    expect(good.result.ok).toBe(false);
    expect(failedNames(good.result.checks)).toEqual(["tdx.collateral"]);
  });

  it("caches verified chains by fingerprint: the second verification of a quote hits the cache", () => {
    const cache = new BoundedCache<ChainEntry>(4);
    const quote = parseTdxQuote(readVector(QUOTES.q6));
    for (let i = 0; i < 3; i++) {
      const checks = new CheckList();
      verifyQuoteSignatures(quote, intelSgxRoot(), T, checks, cache);
      expect(checks.ok).toBe(true);
    }
    expect(cache.misses).toBe(1);
    expect(cache.hits).toBe(2);
    // A tampered chain is a different fingerprint: a miss, and it is not cached.
    const checks = new CheckList();
    verifyQuoteSignatures(parseTdxQuote(tamperPckLeaf(readVector(QUOTES.q6))), intelSgxRoot(), T, checks, cache);
    expect(checks.ok).toBe(false);
    expect(cache.size).toBe(1);
  });
});

describe("BoundedCache", () => {
  it("evicts the least recently used entry past its capacity", () => {
    const c = new BoundedCache<number>(2);
    c.set("a", 1);
    c.set("b", 2);
    expect(c.get("a")).toBe(1); // a is now most recent
    c.set("c", 3);
    expect(c.get("b")).toBeUndefined();
    expect(c.get("a")).toBe(1);
    expect(c.get("c")).toBe(3);
    expect(c.size).toBe(2);
    expect(() => new BoundedCache(0)).toThrow(RangeError);
  });
});
