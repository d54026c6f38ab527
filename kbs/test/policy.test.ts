import { describe, expect, it } from "vitest";
import { evaluateResourcePolicy, parseResourcePolicy, type ReleaseContext } from "../policy/resource-policy.js";
import { KbsError } from "../errors.js";

const ctx = (over: Partial<ReleaseContext> = {}): ReleaseContext => ({
  tee: "snp",
  status: "affirming",
  teeClaims: { measurement: "AB".repeat(48), reported_tcb: { snp: 8 }, policy: { debug_allowed: false }, pcrs: { "7": "cd".repeat(32) } },
  runtimeData: { "proplet-id": "p1" },
  development: false,
  developmentMode: false,
  ...over,
});

describe("resource policy", () => {
  it("validates on upload and names every problem", () => {
    expect(() => parseResourcePolicy({ allowedTees: [] })).toThrow(KbsError);
    expect(() => parseResourcePolicy({ allowedTees: ["snp"], unknown: 1 })).toThrow(/InvalidPolicy|invalid/);
    expect(() => parseResourcePolicy({ allowedTees: ["snp"], measurement: ["not-hex"] })).toThrow(/measurement/);
    expect(() => parseResourcePolicy({ allowedTees: ["snp"], claims: { "no-slash": [1] } })).toThrow(/claims/);
    expect(() => parseResourcePolicy({ allowedTees: ["nope"] })).toThrow(/allowedTees/);
    expect(() => parseResourcePolicy({ allowedTees: ["tpm"], pcrs: { "24": ["aa"] } })).toThrow(/pcrs/);
    expect(parseResourcePolicy({ allowedTees: ["snp"], requiredStatus: "warning" }).requiredStatus).toBe("warning");
  });

  it("allows when every condition holds (hex compared case-insensitively)", () => {
    const policy = parseResourcePolicy({ allowedTees: ["snp", "tdx"], measurement: ["ab".repeat(48)], minimums: { "/reported_tcb/snp": 8 }, pcrs: { "7": ["CD".repeat(32)] }, runtimeData: { "/proplet-id": ["p1"] } });
    expect(evaluateResourcePolicy(policy, ctx())).toEqual({ allowed: true, reasons: [] });
  });

  it("explains each failed condition", () => {
    const policy = parseResourcePolicy({ allowedTees: ["tdx"], measurement: ["00".repeat(48)], minimums: { "/reported_tcb/snp": 9, "/missing": 1 }, runtimeData: { "/proplet-id": ["p2"] } });
    const d = evaluateResourcePolicy(policy, ctx({ status: "warning" }));
    expect(d.allowed).toBe(false);
    expect(d.reasons).toEqual([
      'TEE "snp" is not allowed (allowed: tdx)',
      'ear.status is "warning", the policy requires "affirming"',
      `measurement /measurement is "${"AB".repeat(48)}", not one of the 1 allowed value(s)`,
      'runtime data /proplet-id is "p1", not one of the 1 allowed value(s)',
      "/reported_tcb/snp is 8, below the minimum 9",
      "/missing is absent, below the minimum 1",
    ]);
  });

  it("requiredStatus warning accepts warning and affirming, never contraindicated", () => {
    const policy = parseResourcePolicy({ allowedTees: ["snp"], requiredStatus: "warning" });
    expect(evaluateResourcePolicy(policy, ctx({ status: "warning" })).allowed).toBe(true);
    expect(evaluateResourcePolicy(policy, ctx({ status: "affirming" })).allowed).toBe(true);
    expect(evaluateResourcePolicy(policy, ctx({ status: "contraindicated" })).allowed).toBe(false);
    expect(evaluateResourcePolicy(policy, ctx({ status: "none" })).allowed).toBe(false);
  });

  it("forbids debug unless allowDebug", () => {
    const debug = ctx({ teeClaims: { policy: { debug_allowed: true } } });
    expect(evaluateResourcePolicy(parseResourcePolicy({ allowedTees: ["snp"] }), debug).reasons[0]).toMatch(/debuggable/);
    expect(evaluateResourcePolicy(parseResourcePolicy({ allowedTees: ["snp"], allowDebug: true }), debug).allowed).toBe(true);
  });

  it("refuses development tokens outside development mode even if the policy lists sample", () => {
    const policy = parseResourcePolicy({ allowedTees: ["sample"], requiredStatus: "warning" });
    expect(evaluateResourcePolicy(policy, ctx({ tee: "sample", development: true, developmentMode: false })).reasons[0]).toMatch(/development/);
    expect(evaluateResourcePolicy(policy, ctx({ tee: "sample", development: true, developmentMode: true })).allowed).toBe(true);
  });

  it("measurement and PCR shorthands find the Azure vTPM claims", () => {
    const az = ctx({ tee: "az-snp-vtpm", teeClaims: { snp: { measurement: "ee".repeat(48), policy: { debug_allowed: true } }, tpm: { pcrs: { "4": "44".repeat(32) } } } });
    const d = evaluateResourcePolicy(parseResourcePolicy({ allowedTees: ["az-snp-vtpm"], measurement: ["ee".repeat(48)], pcrs: { "4": ["44".repeat(32)] } }), az);
    expect(d.reasons).toEqual(["the TEE is debuggable (/snp/policy/debug_allowed true) and the policy forbids debug"]);
  });

  it("MRTD and RTMR shorthands find the TDX claim", () => {
    const tdx = ctx({ tee: "tdx", teeClaims: { mr_td: "11".repeat(48), rtmr1: "22".repeat(48) } });
    expect(evaluateResourcePolicy(parseResourcePolicy({ allowedTees: ["tdx"], mrtd: ["11".repeat(48)], rtmrs: { "1": ["22".repeat(48)] } }), tdx).allowed).toBe(true);
    expect(evaluateResourcePolicy(parseResourcePolicy({ allowedTees: ["tdx"], rtmrs: { "1": ["33".repeat(48)] } }), tdx).reasons[0]).toMatch(/^RTMR1 \/rtmr1/);
  });
});
