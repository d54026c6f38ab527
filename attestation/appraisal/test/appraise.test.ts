import { describe, expect, it } from "vitest";
import { canonicalSha384 } from "../../../protocol/jcs.js";
import { SampleVerifier } from "../../sample/index.js";
import { CheckList, type VerificationResult } from "../../result.js";
import { appraise } from "../appraise.js";
import { defaultAttestationPolicy } from "../policy.js";
import type { ReferenceValue } from "../reference-values.js";

const future = new Date(Date.now() + 3600_000).toISOString();
const past = new Date(Date.now() - 1000).toISOString();
const rv = (claim: string, value: unknown, expiresAt = future, tee = "snp"): ReferenceValue => ({ id: `${claim}-${String(value)}`, tee, claim, value, expiresAt });

function verified(claims: Record<string, unknown>, ok = true): VerificationResult {
  const checks = new CheckList();
  checks.add("snp.signature", ok, ok ? "signature valid" : "signature does not verify");
  return checks.result("snp", claims);
}

describe("appraisal", () => {
  const claims = { measurement: "aa".repeat(48), reported_tcb: { snp: 8 }, policy: { debug_allowed: false } };

  it("affirms verified claims that match valid reference values", () => {
    const a = appraise({ tee: "snp", verification: verified(claims), policy: defaultAttestationPolicy("snp"), referenceValues: [rv("/measurement", "AA".repeat(48))], developmentMode: false });
    expect(a.status).toBe("affirming");
    expect(a.trustVector).toEqual({ "instance-identity": 2, hardware: 2, configuration: 2, executables: 2 });
    expect(a.policyId).toBe("propeller/default/snp");
  });

  it("a failed verification check is contraindicated and says which", () => {
    const a = appraise({ tee: "snp", verification: verified(claims, false), policy: defaultAttestationPolicy("snp"), referenceValues: [rv("/measurement", "aa".repeat(48))], developmentMode: false });
    expect(a.status).toBe("contraindicated");
    expect(a.checks.find((c) => c.name === "appraisal.verification")?.detail).toMatch(/snp\.signature \(signature does not verify\)/);
    expect(a.checks.some((c) => c.name === "verify.snp.signature" && !c.ok)).toBe(true);
  });

  it("evidence that could not be verified at all is contraindicated", () => {
    const a = appraise({ tee: "snp", verification: { error: "bad length" }, policy: defaultAttestationPolicy("snp"), referenceValues: [], developmentMode: false });
    expect(a.status).toBe("contraindicated");
  });

  it("a measurement matching no valid reference value is not affirmed; an expired one is named as expired", () => {
    const mismatch = appraise({ tee: "snp", verification: verified(claims), policy: defaultAttestationPolicy("snp"), referenceValues: [rv("/measurement", "bb".repeat(48))], developmentMode: false });
    expect(mismatch.status).toBe("warning");
    expect(mismatch.trustVector.executables).toBe(33);
    const expired = appraise({ tee: "snp", verification: verified(claims), policy: defaultAttestationPolicy("snp"), referenceValues: [rv("/measurement", "aa".repeat(48), past)], developmentMode: false });
    expect(expired.status).toBe("warning");
    expect(expired.checks.find((c) => c.name === "appraisal.reference-value:/measurement")?.detail).toMatch(/expired at/);
  });

  it("no reference values: warning unless the policy does not require them; other TEEs' values do not count", () => {
    const none = appraise({ tee: "snp", verification: verified(claims), policy: defaultAttestationPolicy("snp"), referenceValues: [rv("/measurement", "aa".repeat(48), future, "tdx")], developmentMode: false });
    expect(none.status).toBe("warning");
    const optional = appraise({ tee: "snp", verification: verified(claims), policy: { ...defaultAttestationPolicy("snp"), requireReferenceValues: false }, referenceValues: [], developmentMode: false });
    expect(optional.status).toBe("affirming");
  });

  it("debug, minimum TCB and software-only roots lower the status", () => {
    const refs = [rv("/measurement", "aa".repeat(48))];
    const debug = appraise({ tee: "snp", verification: verified({ ...claims, policy: { debug_allowed: true } }), policy: defaultAttestationPolicy("snp"), referenceValues: refs, developmentMode: false });
    expect(debug.status).toBe("contraindicated");
    expect(debug.trustVector.configuration).toBe(99);
    const tcb = appraise({ tee: "snp", verification: verified(claims), policy: { ...defaultAttestationPolicy("snp"), minimums: { "/reported_tcb/snp": 9 } }, referenceValues: refs, developmentMode: false });
    expect(tcb.status).toBe("contraindicated");
    const anyAk = appraise({ tee: "tpm", verification: verified({ ak_trusted: false }), policy: { ...defaultAttestationPolicy("tpm"), requireReferenceValues: false }, referenceValues: [], developmentMode: true });
    expect(anyAk.status).toBe("warning");
    expect(anyAk.trustVector["instance-identity"]).toBe(32);
    const tcbWarning = appraise({ tee: "snp", verification: verified({ ...claims, ear_status: "warning", tcb_status: "OutOfDate" }), policy: defaultAttestationPolicy("snp"), referenceValues: refs, developmentMode: false });
    expect(tcbWarning.status).toBe("warning");
    expect(tcbWarning.checks.find((c) => c.name === "appraisal.tcb")?.detail).toMatch(/OutOfDate/);
    const soft = appraise({ tee: "snp", verification: verified({ ...claims, software: true }), policy: { ...defaultAttestationPolicy("snp"), unsafeClaims: ["/software"] }, referenceValues: refs, developmentMode: false });
    expect(soft.status).toBe("warning");
  });

  it("the sample TEE (real SampleVerifier): affirmed and marked in development mode, contraindicated outside it", async () => {
    const reportData = canonicalSha384({ nonce: "n" });
    const result = await new SampleVerifier().verify({ svn: "1", report_data: reportData.toString("base64") }, { reportData });
    const refs = [rv("/svn", 1, future, "sample")];
    const dev = appraise({ tee: "sample", verification: result, policy: defaultAttestationPolicy("sample"), referenceValues: refs, developmentMode: true });
    expect(dev.status).toBe("affirming");
    expect(dev.development).toBe(true);
    expect(dev.checks.find((c) => c.name === "appraisal.development")?.detail).toMatch(/DEVELOPMENT MODE/);
    const prod = appraise({ tee: "sample", verification: result, policy: defaultAttestationPolicy("sample"), referenceValues: refs, developmentMode: false });
    expect(prod.status).toBe("contraindicated");
  });
});
