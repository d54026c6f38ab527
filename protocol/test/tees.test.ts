import { describe, expect, it } from "vitest";
import { TEE_TYPES, TEES, expectedReportData, isDevelopmentOnlyTee, teeProfile, teeSatisfies } from "../index.js";

describe("the TEE table", () => {
  it("has one row per TEE type, keyed by its own id", () => {
    expect(Object.keys(TEES)).toEqual([...TEE_TYPES]);
    for (const id of TEE_TYPES) expect(TEES[id].id).toBe(id);
  });

  it("only the sample TEE is development-only; unknown names are not", () => {
    expect(TEE_TYPES.filter((t) => isDevelopmentOnlyTee(t))).toEqual(["sample"]);
    expect(isDevelopmentOnlyTee("__proto__")).toBe(false);
    expect(teeProfile("constructor")).toBeUndefined();
  });

  it("a task's TEE is satisfied by a proplet announcing that TEE, and by nothing else", () => {
    for (const required of TEE_TYPES) {
      for (const announced of TEE_TYPES) expect(teeSatisfies(required, announced)).toBe(required === announced);
      expect(teeSatisfies(required, null)).toBe(false);
      expect(teeSatisfies(required, undefined)).toBe(false);
    }
  });

  it("fits the runtime-data hash to 64 bytes for SNP, TDX, SGX, CCA and passes it as is otherwise", () => {
    const hash = Buffer.alloc(48, 7);
    for (const tee of ["snp", "tdx", "sgx", "cca"]) expect(expectedReportData(tee, hash)).toEqual(Buffer.concat([hash, Buffer.alloc(16)]));
    for (const tee of ["sample", "tpm", "az-snp-vtpm", "az-tdx-vtpm", "unknown"]) expect(expectedReportData(tee, hash)).toEqual(hash);
  });
});
