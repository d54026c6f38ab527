import { describe, expect, it } from "vitest";
import { verifiableTees } from "../../attestation/index.js";
import { KbsConfigSchema } from "../config.js";

describe("the KBS's verifier options follow the TEE table", () => {
  it("offers options only for TEEs the table gives a verifier", () => {
    const keys = Object.keys((KbsConfigSchema.properties.verifiers as { properties: Record<string, unknown> }).properties);
    expect(keys.filter((k) => !(verifiableTees() as string[]).includes(k))).toEqual([]);
  });
});
