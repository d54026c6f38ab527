import { describe, expect, it } from "vitest";
import { describeWithVectors, readVector } from "../../../testing/vectors.js";
import { CheckList } from "../../result.js";
import { EvidenceFormatError } from "../../errors.js";
import { bundledAmdRoots, ChainCache, parseVek, productLine, verifyAmdChain } from "../certs.js";
import { createFakeAmd } from "../testing/fake.js";
import { readCertificates } from "../x509.js";
import { SNP, T } from "./vectors.js";

describeWithVectors("parseVek on real and synthetic certificates", () => {
  it("go-sev-guest VCEK: Milan-B0, SPLs 2/0/5/68, raw 64-byte hwID", () => {
    const v = parseVek(SNP.gsgVcek());
    expect(v.kind).toBe("vcek");
    expect(v.productName).toBe("Milan-B0");
    expect(v.product).toBe("Milan");
    expect(v.spls).toEqual({ bootloader: 2, tee: 0, snp: 5, microcode: 68 });
    expect(v.hwId?.byteLength).toBe(64);
    expect(v.hwId?.toString("hex").startsWith("3ac3fe21")).toBe(true);
  });

  it("trustee VCEK: SPLs 3/0/8/115, hwID c38427a3…", () => {
    const v = parseVek(SNP.trVcek());
    expect(v.spls).toEqual({ bootloader: 3, tee: 0, snp: 8, microcode: 115 });
    expect(v.hwId?.toString("hex").startsWith("c38427a3")).toBe(true);
    expect(v.hwId?.toString("hex").endsWith("477524e")).toBe(true);
  });

  it("trustee VLEK: product Milan, cspID, no hwID, SPLs 4/0/24/217", () => {
    const v = parseVek(SNP.vlek());
    expect(v.kind).toBe("vlek");
    expect(v.productName).toBe("Milan");
    expect(v.cspId).toBe("CN=cc-us-east-2.amazonaws.com");
    expect(v.hwId).toBeUndefined();
    expect(v.spls).toEqual({ bootloader: 4, tee: 0, snp: 24, microcode: 217 });
  });

  it("synthetic invalid VCEKs still parse: hwID raw (legacy) and as a DER OCTET STRING (new)", () => {
    const legacy = parseVek(SNP.invalidLegacy());
    expect(legacy.spls).toEqual({ bootloader: 3, tee: 0, snp: 10, microcode: 169 });
    const neu = parseVek(SNP.invalidNew());
    expect(neu.spls).toEqual({ bootloader: 0, tee: 0, snp: 0, microcode: 30 });
    const expected = Buffer.from([...Array(64).keys()]);
    expect(legacy.hwId).toEqual(expected);
    expect(neu.hwId).toEqual(expected);
  });

  it("Genoa VCEK (PEM): hwID 0506ffba…aaea4ad1, SPLs 10/0/23/84", () => {
    const v = parseVek(readVector("azure-snp-vtpm/trustee/vcek-genoa.pem").toString("utf8"));
    expect(v.product).toBe("Genoa");
    expect(v.spls).toEqual({ bootloader: 10, tee: 0, snp: 23, microcode: 84 });
    expect(v.hwId?.toString("hex").startsWith("0506ffba")).toBe(true);
    expect(v.hwId?.toString("hex").endsWith("aaea4ad1")).toBe(true);
  });

  it("refuses a certificate that is not a VEK (an ASK)", () => {
    const [ask] = readCertificates(SNP.chain("milan"));
    expect(() => parseVek(ask!)).toThrow(/neither SEV-VCEK nor SEV-VLEK/);
    expect(() => parseVek(Buffer.from("not a certificate"))).toThrow(EvidenceFormatError);
  });
});

describeWithVectors("verifyAmdChain on the pinned roots", () => {
  it("a Milan VCEK chains to the pinned ARK-Milan; a VLEK to the pinned ASVK", async () => {
    const c = new CheckList();
    expect(await verifyAmdChain({ vek: parseVek(SNP.trVcek()), product: "Milan", roots: bundledAmdRoots(), now: T.trustee }, c)).toBe(true);
    expect(c.checks.map((x) => x.name)).toEqual(["snp.chain.ark", "snp.chain.ask", "snp.chain.vek", "snp.validity.ark", "snp.validity.ask", "snp.validity.vek"]);
    const v = new CheckList();
    expect(await verifyAmdChain({ vek: parseVek(SNP.vlek()), product: "Milan", roots: bundledAmdRoots(), now: T.vlek }, v)).toBe(true);
  });

  it("the Milan VCEK against the Genoa roots fails at the VEK (SEV-Genoa did not sign it)", async () => {
    const c = new CheckList();
    expect(await verifyAmdChain({ vek: parseVek(SNP.trVcek()), product: "Genoa", roots: bundledAmdRoots(), now: T.trustee }, c)).toBe(false);
    expect(c.failures.map((x) => x.name)).toEqual(["snp.chain.vek"]);
  });

  it("an ARK from the evidence that is not the pinned one is refused even if self-signed", async () => {
    const fake = await createFakeAmd("Milan");
    const c = new CheckList();
    await verifyAmdChain({ vek: parseVek(SNP.trVcek()), product: "Milan", roots: bundledAmdRoots(), now: T.trustee, ark: fake.ark }, c);
    expect(c.failures.map((x) => x.name)).toEqual(["snp.chain.ark"]);
  });
});

describe("bundled roots", () => {
  it("for Milan, Genoa and Turin: the ARK is self-signed and signed the ASK and ASVK (RSASSA-PSS/SHA-384)", async () => {
    const roots = bundledAmdRoots();
    for (const product of ["Milan", "Genoa", "Turin"] as const) {
      const set = roots[product]!;
      expect(set.ark.subjectName.getField("CN")).toEqual([`ARK-${product}`]);
      expect(set.ask.subjectName.getField("CN")).toEqual([`SEV-${product}`]);
      expect(set.asvk.subjectName.getField("CN")).toEqual([`SEV-VLEK-${product}`]);
      expect(await set.ark.verify({ publicKey: set.ark, signatureOnly: true }), product).toBe(true);
      expect(await set.ask.verify({ publicKey: set.ark, signatureOnly: true }), product).toBe(true);
      expect(await set.asvk.verify({ publicKey: set.ark, signatureOnly: true }), product).toBe(true);
      // And not by another product's ARK.
      const other = roots[product === "Milan" ? "Genoa" : "Milan"]!;
      expect(await set.ask.verify({ publicKey: other.ark, signatureOnly: true })).toBe(false);
    }
  });
});

describe("ChainCache", () => {
  it("is bounded and least-recently-used", () => {
    const cache = new ChainCache(2);
    cache.set("a", true);
    cache.set("b", false);
    expect(cache.get("a")).toBe(true); // a is now the most recent
    cache.set("c", true);
    expect(cache.size).toBe(2);
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("a")).toBe(true);
    expect(cache.get("c")).toBe(true);
    expect(() => new ChainCache(0)).toThrow(RangeError);
  });

  it("serves repeated chain verifications and still checks validity windows each time", async () => {
    const fake = await createFakeAmd("Genoa");
    const vek = await fake.issueVek({ notAfter: new Date("2026-01-01T00:00:00Z") });
    const cache = new ChainCache(16);
    const first = new CheckList();
    expect(await verifyAmdChain({ vek: parseVek(vek.der), product: "Genoa", roots: fake.roots, now: new Date("2025-01-01T00:00:00Z"), cache }, first)).toBe(true);
    expect(cache.size).toBe(3);
    const later = new CheckList();
    expect(await verifyAmdChain({ vek: parseVek(vek.der), product: "Genoa", roots: fake.roots, now: new Date("2027-01-01T00:00:00Z"), cache }, later)).toBe(false);
    expect(later.failures.map((x) => x.name)).toEqual(["snp.validity.vek"]);
    expect(cache.size).toBe(3);
  });
});

describe("productLine", () => {
  it("maps product names with and without stepping", () => {
    expect(productLine("Milan-B0")).toBe("Milan");
    expect(productLine("Genoa")).toBe("Genoa");
    expect(productLine("Turin-B1")).toBe("Turin");
    expect(productLine("Venice-A0")).toBeUndefined();
  });
});
