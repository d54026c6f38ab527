import { expect, it } from "vitest";
import { main } from "../main.js";
import { describeWithVectors, vectorPath } from "../../testing/vectors.js";

async function verify(args: string[]) {
  const out: string[] = [];
  const code = await main(["attestation", "verify", ...args], { out: (t) => void out.push(t), err: (t) => void out.push(t) });
  return { code, report: code === 2 ? null : (JSON.parse(out.join("")) as { verified: boolean; status: string; failed: Array<{ name: string }>; claims: Record<string, unknown> }) };
}

describeWithVectors("propeller attestation verify (real vectors)", () => {
  it("verifies the Trustee SNP report with its VCEK and prints the claims", async () => {
    const { code, report } = await verify(["--tee", "snp", "--evidence", vectorPath("snp/trustee/test-report.bin"), "--cert", vectorPath("snp/trustee/test-vcek.der"), "--at", "2024-01-01T00:00:00Z"]);
    expect(code).toBe(0);
    expect(report!.status).toBe("affirming");
    expect(report!.claims.measurement).toBe("a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c23500644e0e692e6be917f9050d3d38c");
  });

  it("rejects the debug-enabled SNP report with the policy reason, and a report one byte off", async () => {
    const debug = await verify(["--tee", "snp", "--evidence", vectorPath("snp/go-sev-guest/attestation.bin"), "--cert", vectorPath("snp/go-sev-guest/vcek.testcer"), "--at", "2024-01-01T00:00:00Z"]);
    expect(debug.code).toBe(1);
    expect(debug.report!.failed.map((f) => f.name)).toEqual(["snp.policy.debug"]);
    const allowed = await verify(["--tee", "snp", "--evidence", vectorPath("snp/go-sev-guest/attestation.bin"), "--cert", vectorPath("snp/go-sev-guest/vcek.testcer"), "--at", "2024-01-01T00:00:00Z", "--allow-debug"]);
    expect(allowed.code).toBe(0);
    const expired = await verify(["--tee", "snp", "--evidence", vectorPath("snp/trustee/test-report.bin"), "--cert", vectorPath("snp/trustee/test-vcek.der"), "--at", "2031-01-01T00:00:00Z"]);
    expect(expired.code).toBe(1);
    expect(expired.report!.failed.map((f) => f.name)).toContain("snp.validity.vek");
  });

  it("verifies TPM and Azure vTPM evidence, and checks report data when given", async () => {
    expect((await verify(["--tee", "tpm", "--evidence", vectorPath("tpm/trustee/tpm_evidence.json")])).code).toBe(0);
    const wrongNonce = await verify(["--tee", "tpm", "--evidence", vectorPath("tpm/trustee/tpm_evidence.json"), "--report-data", "00".repeat(32)]);
    expect(wrongNonce.code).toBe(1);
    expect(wrongNonce.report!.failed.map((f) => f.name)).toContain("tpm.nonce");
    expect((await verify(["--tee", "az-snp-vtpm", "--evidence", vectorPath("azure-snp-vtpm/trustee/evidence-v1.json"), "--at", "2026-01-01T00:00:00Z"])).code).toBe(0);
  });

  it("verifies a TDX quote against its collateral and reports the TCB outcome", async () => {
    const args = ["--tee", "tdx", "--evidence", vectorPath("tdx/trustee/tdx_quote_6.dat"), "--collateral", vectorPath("tdx/trustee/tcbInfo.json"), "--collateral", vectorPath("tdx/trustee/enclaveIdentity.json"), "--collateral", vectorPath("intel-roots/tcb_signing_chain.pem"), "--at", "2025-11-01T00:00:00Z", "--no-crl"];
    const { code, report } = await verify(args);
    expect(code).toBe(1); // OutOfDate (PCESVN 11 < 13) is not affirming
    expect(report!.status).not.toBe("affirming");
    expect(JSON.stringify(report!.claims)).toMatch(/OutOfDate/);
  });

  it("answers usage errors with exit 2", async () => {
    expect((await verify(["--tee", "nope", "--evidence", "x"])).code).toBe(2);
    expect((await verify(["--tee", "snp"])).code).toBe(2);
    expect((await verify(["--tee", "snp", "--evidence", "/nonexistent"])).code).toBe(2);
    expect((await verify(["--tee", "snp", "--evidence", vectorPath("snp/trustee/test-report.bin"), "--at", "yesterday"])).code).toBe(2);
  });
});
