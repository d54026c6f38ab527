import { describe, expect, it } from "vitest";
import { CheckList } from "../../result.js";
import { withTeeAppraisal } from "../index.js";

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
