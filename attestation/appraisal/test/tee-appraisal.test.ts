import { describe, expect, it } from "vitest";
import { CheckList } from "../../result.js";
import { appraiseEvidence, appraiseTeePolicy, defaultAttestationPolicy, validateTeePolicy, withTeeAppraisal } from "../index.js";

const verified = (ok: boolean) => {
  const checks = new CheckList();
  checks.add("x.signature", ok, ok ? "valid" : "invalid");
  return checks.result("snp", { measurement: "ab" });
};

describe("joining a TEE policy's appraisal into a verification result", () => {
  it("appends the policy's checks and keeps the claims", () => {
    const r = withTeeAppraisal(verified(true), { status: "affirming", checks: [{ name: "x.policy", ok: true }] });
    expect(r).toEqual({ tee: "snp", ok: true, claims: { measurement: "ab" }, checks: [{ name: "x.signature", ok: true, detail: "valid" }, { name: "x.policy", ok: true }] });
  });

  it("is ok for a warning, not for contraindicated claims or failed verification", () => {
    expect(withTeeAppraisal(verified(true), { status: "warning", checks: [] }).ok).toBe(true);
    expect(withTeeAppraisal(verified(true), { status: "contraindicated", checks: [{ name: "x.policy", ok: false }] }).ok).toBe(false);
    expect(withTeeAppraisal(verified(false), { status: "affirming", checks: [] }).ok).toBe(false);
  });
});

describe("the TEE-rules part of the appraisal stage", () => {
  const snpClaims = (over: Record<string, unknown> = {}) => ({
    measurement: "aa".repeat(48),
    vmpl: 0,
    signing_key: "vcek",
    reported_tcb: { bootloader: 1, tee: 1, snp: 8, microcode: 1 },
    policy: { raw: "30000", debug_allowed: false, migrate_ma_allowed: false },
    ...over,
  });
  const snp = (claims: Record<string, unknown>) => {
    const checks = new CheckList();
    checks.pass("snp.signature", "valid");
    return checks.result("snp", claims);
  };

  it("applies the TEE's deny-by-default rules when no policy is configured, and the configured one when it is", () => {
    const vmpl1 = snp(snpClaims({ vmpl: 1 }));
    const denied = appraiseTeePolicy(vmpl1);
    expect(denied.ok).toBe(false);
    expect(denied.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(["snp.policy.vmpl"]);
    expect(appraiseTeePolicy(vmpl1, validateTeePolicy("snp", { allowedVmpls: [1] })).ok).toBe(true);
    expect(appraiseTeePolicy(snp(snpClaims())).ok).toBe(true);
  });

  it("leaves a TEE without rules of its own unchanged", () => {
    const checks = new CheckList();
    checks.pass("tpm.signature", "valid");
    const tpm = checks.result("tpm", { ak_trusted: true });
    expect(appraiseTeePolicy(tpm)).toBe(tpm);
  });

  it("appraiseEvidence runs the rules before policy and reference values: a debug SNP guest is contraindicated", () => {
    const input = { tee: "snp", policy: defaultAttestationPolicy("snp"), referenceValues: [], developmentMode: false };
    const debug = appraiseEvidence({ ...input, verification: snp(snpClaims({ policy: { raw: "b0000", debug_allowed: true, migrate_ma_allowed: false } })) });
    expect(debug.status).toBe("contraindicated");
    expect(debug.checks.map((c) => c.name)).toContain("verify.snp.policy.debug");
    const allowed = appraiseEvidence({ ...input, teePolicy: validateTeePolicy("snp", { allowDebug: true }), verification: snp(snpClaims()) });
    expect(allowed.checks.find((c) => c.name === "appraisal.verification")?.ok).toBe(true);
    expect(appraiseEvidence({ ...input, verification: { error: "bad length" } }).claims).toEqual({});
  });
});
