import { describe, expect, it } from "vitest";
import { TEES, TEE_TYPES, VERIFIED_TEES, isDevelopmentOnlyTee, teeSatisfies } from "../index.js";
import { knownTees } from "../../attestation/index.js";

describe("the TEE table", () => {
  it("describes every TEE the wire names, and attestation/ registers a verifier for exactly the verified ones", () => {
    expect(Object.keys(TEES).sort()).toEqual([...TEE_TYPES].sort());
    expect([...knownTees()].sort()).toEqual([...VERIFIED_TEES].sort());
  });

  it("marks only the sample TEE development-only; an unknown name is not (it is refused as unsupported elsewhere)", () => {
    expect(TEE_TYPES.filter(isDevelopmentOnlyTee)).toEqual(["sample"]);
    expect(isDevelopmentOnlyTee("toString")).toBe(false);
    expect(isDevelopmentOnlyTee("nope")).toBe(false);
  });

  it("lets a task's required TEE be met only by a proplet attesting that TEE", () => {
    expect(teeSatisfies("snp", "snp")).toBe(true);
    expect(teeSatisfies("snp", "az-snp-vtpm")).toBe(false);
    expect(teeSatisfies("snp", null)).toBe(false);
    expect(teeSatisfies("snp", undefined)).toBe(false);
    expect(teeSatisfies("constructor", "constructor")).toBe(false);
  });
});
