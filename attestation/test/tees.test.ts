import { describe, expect, it } from "vitest";
import { TEE_TYPES } from "../../protocol/index.js";
import { ATTESTATION_TEES, attestationTee, knownTees, loadVerifier, verifiableTees } from "../index.js";
import { defaultAttestationPolicy } from "../appraisal/index.js";

describe("the attestation TEE table", () => {
  it("extends every protocol row", () => {
    expect(Object.keys(ATTESTATION_TEES)).toEqual([...TEE_TYPES]);
    expect(attestationTee("__proto__")).toBeUndefined();
  });

  it("names the TEEs with a verifier, in table order", () => {
    expect(verifiableTees()).toEqual(["sample", "snp", "tdx", "tpm", "az-snp-vtpm"]);
    expect(knownTees()).toEqual(verifiableTees());
  });

  it("each verifier it names loads and is for its TEE", async () => {
    const options: Record<string, Record<string, unknown>> = { tdx: { collateral: async () => undefined } };
    for (const tee of verifiableTees()) expect((await loadVerifier(tee, options[tee] ?? {})).tee).toBe(tee);
  });

  it("gives the default policy its unsafe claims (a software TPM)", () => {
    expect(defaultAttestationPolicy("tpm").unsafeClaims).toEqual(["/software_tpm"]);
    for (const tee of ["sample", "snp", "tdx", "az-snp-vtpm", "cca", "nope"]) expect(defaultAttestationPolicy(tee).unsafeClaims).toEqual([]);
  });
});
