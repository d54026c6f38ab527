import "reflect-metadata";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { describeWithVectors, readVector } from "../../../../testing/vectors.js";
import { AMD_PRODUCTS, AMD_ROOT_PEMS, AMD_ROOT_SHA256 } from "../index.js";

const derOf = (pem: string): Buffer => Buffer.from(pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, "").replace(/\s+/g, ""), "base64");
const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");
const blocks = (text: string): string[] => text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];

describe("bundled AMD roots", () => {
  it("each constant matches its recorded fingerprint and the PEM file beside it", () => {
    for (const p of AMD_PRODUCTS) {
      const pems = AMD_ROOT_PEMS[p];
      const fps = AMD_ROOT_SHA256[p];
      expect(sha(derOf(pems.ark))).toBe(fps.ark);
      expect(sha(derOf(pems.ask))).toBe(fps.ask);
      expect(sha(derOf(pems.asvk))).toBe(fps.asvk);
      const file = readFileSync(fileURLToPath(new URL(`../${p.toLowerCase()}.pem`, import.meta.url)), "utf8");
      expect(blocks(file).map((b) => sha(derOf(b)))).toEqual([fps.ark, fps.ask, fps.asvk]);
    }
  });

  it("fingerprints are the ones AMD publishes (prefixes as listed in the vectors README)", () => {
    expect(AMD_ROOT_SHA256.Milan.ark.startsWith("69d063b45344d26a")).toBe(true);
    expect(AMD_ROOT_SHA256.Genoa.ark.startsWith("4c6598d19c18719c")).toBe(true);
    expect(AMD_ROOT_SHA256.Turin.ark.startsWith("1f084161a44bb6d9")).toBe(true);
  });
});

describeWithVectors("bundled AMD roots equal go-sev-guest's trust files", () => {
  it("ASK/ASVK then ARK, per product, byte for byte", () => {
    const files = {
      Milan: ["milan", "milan_vlek"],
      Genoa: ["genoa", "genoa_vlek"],
      Turin: ["turin_vcek", "turin_vlek"],
    } as const;
    for (const p of AMD_PRODUCTS) {
      const [vcekFile, vlekFile] = files[p];
      const [ask, ark] = blocks(readVector(`amd-roots/go-sev-guest/ask_ark_${vcekFile}.pem`).toString("utf8"));
      const [asvk, ark2] = blocks(readVector(`amd-roots/go-sev-guest/ask_ark_${vlekFile}.pem`).toString("utf8"));
      expect(sha(derOf(ask!))).toBe(AMD_ROOT_SHA256[p].ask);
      expect(sha(derOf(ark!))).toBe(AMD_ROOT_SHA256[p].ark);
      expect(sha(derOf(asvk!))).toBe(AMD_ROOT_SHA256[p].asvk);
      expect(sha(derOf(ark2!))).toBe(AMD_ROOT_SHA256[p].ark);
    }
  });
});
