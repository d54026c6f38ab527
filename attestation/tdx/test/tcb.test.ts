import { describe, expect, it } from "vitest";
import { describeWithVectors, readVector } from "../../../testing/vectors.js";
import { appraiseTdx, validateTdxPolicy, PolicyError } from "../appraise.js";
import { converge, TCB_STATUSES, type TcbStatus } from "../tcb.js";
import { verifyTdxQuote } from "../verify-quote.js";
import { fakeCollateral, fakePki, fakeQuote, FAKE_EPOCH, type FakePki } from "../testing/fake-dcap.js";
import { collateralSet, failedNames, QUOTES } from "./tdx-vectors.js";

describeWithVectors("TDX TCB status with Intel collateral (the README's documented outcomes)", () => {
  it("tdx_prod_quote_SPR_E4 + sample_tcbInfo_response: no matching TCB level (2023-07-01)", async () => {
    const { collateral, now } = collateralSet("2023");
    const v = await verifyTdxQuote(readVector(QUOTES.spr), { collateral, now });
    expect(v.result.claims.tcb_status).toBe("NoMatchingTcbLevel");
    expect(v.result.checks.find((c) => c.name === "tdx.tcb.level")?.detail).toMatch(/no matching TCB level found/);
    // Everything else verifies, CRLs included; the TCB Signing certificate (issued 2025) is not yet valid in 2023.
    expect(failedNames(v.result.checks).sort()).toEqual(["tdx.collateral.tcb_signing.validity", "tdx.tcb.level"]);
    expect(v.result.checks.find((c) => c.name === "tdx.crl.pck.revocation")?.ok).toBe(true);
    expect(v.result.checks.find((c) => c.name === "tdx.crl.root.revocation")?.ok).toBe(true);
    expect(appraiseTdx(v.result).status).toBe("contraindicated");
  });

  it("quote_v5_sample + v5 TCB Info + QE identity: UpToDate at 2026-02-03 via module identity TDX_01", async () => {
    const { collateral, now } = collateralSet("v5-2026");
    const v = await verifyTdxQuote(readVector(QUOTES.v5), { collateral, now, requireCrls: false });
    expect(v.result.claims.tcb_status).toBe("UpToDate");
    expect(v.tcb?.platform?.status).toBe("UpToDate");
    expect(v.tcb?.module).toMatchObject({ id: "TDX_01", status: "UpToDate" });
    expect(v.tcb?.qe?.status).toBe("UpToDate");
    expect(v.result.claims.fmspc).toBe("90c06f000000");
    expect(v.result.claims.pcesvn).toBe(13);
    // The go-tdx-guest QE identity sample expired on 2023-07-08; that is reported, not hidden.
    expect(failedNames(v.result.checks)).toEqual(["tdx.collateral.qe_identity.validity"]);
  });

  it("tdx_quote_6 + tcbInfo.json + enclaveIdentity.json: OutOfDate at 2025-11-01 (PCESVN 11 < 13; module TDX_03 and QE up to date)", async () => {
    const { collateral, now } = collateralSet("trustee-2025");
    const v = await verifyTdxQuote(readVector(QUOTES.q6), { collateral, now, requireCrls: false });
    expect(failedNames(v.result.checks)).toEqual([]);
    expect(v.result.ok).toBe(true);
    expect(v.result.claims.tcb_status).toBe("OutOfDate");
    expect(v.tcb?.platform?.status).toBe("OutOfDate");
    expect(v.tcb?.module).toMatchObject({ id: "TDX_03", status: "UpToDate" });
    expect(v.tcb?.qe?.status).toBe("UpToDate");
    expect(v.result.claims.tcb_evaluation_data_number).toBe(17);
    const a = appraiseTdx(v.result);
    expect(a.status).toBe("contraindicated");
    expect(a.checks.find((c) => c.name === "tdx.policy.tcb_status")?.detail).toBe("TCB status OutOfDate → contraindicated");
    // The same evidence with CRLs required but not supplied is not ok.
    const strict = await verifyTdxQuote(readVector(QUOTES.q6), { collateral, now });
    expect(failedNames(strict.result.checks)).toEqual(["tdx.crl.root.signature", "tdx.crl.pck.signature"]);
    expect(strict.result.ok).toBe(false);
  });

  it("tdx_quote_4 + sample_tcbInfo_response: UpToDate, but a DEBUG TD, so not affirming", async () => {
    const { collateral, now } = collateralSet("2023");
    const v = await verifyTdxQuote(readVector(QUOTES.q4), { collateral, now });
    expect(v.result.claims.tcb_status).toBe("UpToDate");
    expect(v.result.claims.td_attributes.debug).toBe(true);
    const a = appraiseTdx(v.result);
    expect(a.status).toBe("contraindicated");
    expect(a.checks.find((c) => c.name === "tdx.policy.debug")?.ok).toBe(false);
    // The TCB status itself is acceptable: debug (and the 2025 TCB Signing certificate's dates) are the objections.
    expect(a.checks.find((c) => c.name === "tdx.policy.tcb_status")).toMatchObject({ ok: true, detail: "TCB status UpToDate → affirming" });
    expect(failedNames(v.result.checks)).toEqual(["tdx.collateral.tcb_signing.validity"]);
  });

  it("tdx_quote_5 against the 2026 v5 TCB Info: no matching TCB level", async () => {
    const { collateral, now } = collateralSet("v5-2026");
    const v = await verifyTdxQuote(readVector(QUOTES.q5), { collateral, now, requireCrls: false });
    expect(v.result.claims.tcb_status).toBe("NoMatchingTcbLevel");
  });

  it("a TCB Info for another FMSPC fails tdx.tcb.fmspc", async () => {
    const { collateral, now } = collateralSet("trustee-2025");
    const v = await verifyTdxQuote(readVector(QUOTES.q4), { collateral, now, requireCrls: false });
    expect(v.result.claims.tcb_status).toBe("NoMatchingTcbLevel");
    expect(v.result.checks.find((c) => c.name === "tdx.tcb.fmspc")).toMatchObject({ ok: false });
    expect(v.result.checks.find((c) => c.name === "tdx.tcb.fmspc")?.detail).toMatch(/50806f000000 ≠ TCB Info FMSPC 00A06D080000/);
  });
});

describe("status convergence (Intel QVL rules)", () => {
  it("UpToDate is neutral, Revoked dominates, OutOfDate absorbs SW hardening and keeps configuration", () => {
    for (const s of TCB_STATUSES) {
      expect(converge(s, "UpToDate")).toBe(s);
      expect(converge("UpToDate", s)).toBe(s);
      expect(converge(s, "Revoked")).toBe("Revoked");
      expect(converge(s, s)).toBe(s);
    }
    const table: [TcbStatus, TcbStatus, TcbStatus][] = [
      ["SWHardeningNeeded", "OutOfDate", "OutOfDate"],
      ["ConfigurationNeeded", "OutOfDate", "OutOfDateConfigurationNeeded"],
      ["ConfigurationAndSWHardeningNeeded", "OutOfDate", "OutOfDateConfigurationNeeded"],
      ["ConfigurationNeeded", "SWHardeningNeeded", "ConfigurationAndSWHardeningNeeded"],
      ["OutOfDateConfigurationNeeded", "SWHardeningNeeded", "OutOfDateConfigurationNeeded"],
    ];
    for (const [a, b, want] of table) {
      expect(converge(a, b)).toBe(want);
      expect(converge(b, a)).toBe(want);
    }
  });
});

describe("TCB branches with a fake DCAP PKI", () => {
  let pki: FakePki;
  const run = async (quoteOpts: Parameters<typeof fakeQuote>[1], collOpts: Parameters<typeof fakeCollateral>[1], policy = {}) => {
    pki ??= await fakePki();
    const q = await fakeQuote(pki, quoteOpts);
    const v = await verifyTdxQuote(q.bytes, { now: FAKE_EPOCH, trustAnchorPem: pki.rootPem, collateral: await fakeCollateral(pki, collOpts) });
    return { v, appraisal: appraiseTdx(v.result, validateTdxPolicy(policy)), failed: failedNames(v.result.checks) };
  };
  const levels = (status: string, advisories?: string[]) => ({
    tcbInfo: { levels: [{ sgx: [5, 5, 2, 2, 3, 1, 0, 3], pceSvn: 13, tdx: [3, 0, 5], status, ...(advisories ? { advisories } : {}) }] },
  });

  it("UpToDate everywhere → ok and affirming", async () => {
    const { v, appraisal, failed } = await run({}, {});
    expect(failed).toEqual([]);
    expect(v.result.ok).toBe(true);
    expect(appraisal.status).toBe("affirming");
  });

  it("SWHardeningNeeded → warning, with the advisories in the claims", async () => {
    const { v, appraisal } = await run({}, levels("SWHardeningNeeded", ["INTEL-SA-00615"]));
    expect(v.result.claims.tcb_status).toBe("SWHardeningNeeded");
    expect(v.result.claims.advisory_ids).toEqual(["INTEL-SA-00615"]);
    expect(appraisal.status).toBe("warning");
  });

  it("ConfigurationNeeded platform + OutOfDate QE → OutOfDateConfigurationNeeded → contraindicated", async () => {
    const { v, appraisal } = await run({ qeIsvSvn: 6 }, { ...levels("ConfigurationNeeded"), qe: [{ isvsvn: 8, status: "UpToDate" }, { isvsvn: 4, status: "OutOfDate", advisories: ["INTEL-SA-00999"] }] });
    expect(v.tcb?.qe?.status).toBe("OutOfDate");
    expect(v.result.claims.tcb_status).toBe("OutOfDateConfigurationNeeded");
    expect(v.result.claims.advisory_ids).toEqual(["INTEL-SA-00999"]);
    expect(appraisal.status).toBe("contraindicated");
  });

  it("Revoked → contraindicated; the mapping table is configurable", async () => {
    const { v, appraisal } = await run({}, levels("Revoked"));
    expect(v.result.claims.tcb_status).toBe("Revoked");
    expect(appraisal.status).toBe("contraindicated");
    const lenient = appraiseTdx(v.result, validateTdxPolicy({ tcbStatus: { Revoked: "warning" } }));
    expect(lenient.status).toBe("warning");
    const strict = await run({}, levels("SWHardeningNeeded"), { tcbStatus: { SWHardeningNeeded: "contraindicated" } });
    expect(strict.appraisal.status).toBe("contraindicated");
    expect(() => validateTdxPolicy({ tcbStatus: { UpToDate: "fine" } })).toThrow(PolicyError);
    expect(() => validateTdxPolicy({ tcbStatus: { Bogus: "warning" } })).toThrow(PolicyError);
  });

  it("an unknown status string in signed collateral is a failed check, not a guess", async () => {
    const { failed, v } = await run({}, levels("Splendid"));
    expect(failed).toEqual(["tdx.tcb.level"]);
    expect(v.result.checks.find((c) => c.name === "tdx.tcb.level")?.detail).toMatch(/unrecognised TCB status "Splendid"/);
  });

  it("PCESVN or an SGX component below every level → no matching TCB level", async () => {
    const low = await run({ pck: { components: [5, 5, 2, 2, 3, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0], pceSvn: 13, fmspc: "00aa6f000000" } }, {});
    expect(low.v.result.claims.tcb_status).toBe("NoMatchingTcbLevel");
    expect(low.failed).toEqual(["tdx.tcb.level"]);
    const pce = await run({ pck: { components: [5, 5, 2, 2, 3, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0], pceSvn: 12, fmspc: "00aa6f000000" } }, {});
    expect(pce.v.result.claims.tcb_status).toBe("NoMatchingTcbLevel");
  });

  it("module version > 0: TEE_TCB_SVN[0..2] are judged by the TDX_xx identity, and its OutOfDate level converges", async () => {
    const moduleIdentities = [{ id: "TDX_01", levels: [{ isvsvn: 6, status: "UpToDate" }, { isvsvn: 2, status: "OutOfDate", advisories: ["INTEL-SA-01036"] }] }];
    // TEE_TCB_SVN 04 01 05: byte 0 (4) is below the platform level's 0x0b but is not compared there.
    const levelsTdx = [{ sgx: [5, 5, 2, 2, 3, 1, 0, 3], pceSvn: 13, tdx: [11, 1, 5], status: "UpToDate" }];
    const old = await run({ teeTcbSvn: [4, 1, 5] }, { tcbInfo: { levels: levelsTdx, moduleIdentities } });
    expect(old.v.tcb?.platform?.status).toBe("UpToDate");
    expect(old.v.tcb?.module).toMatchObject({ id: "TDX_01", status: "OutOfDate" });
    expect(old.v.result.claims.tcb_status).toBe("OutOfDate");
    expect(old.v.result.claims.advisory_ids).toEqual(["INTEL-SA-01036"]);
    const fresh = await run({ teeTcbSvn: [7, 1, 5] }, { tcbInfo: { levels: levelsTdx, moduleIdentities } });
    expect(fresh.v.result.claims.tcb_status).toBe("UpToDate");
    const tooOld = await run({ teeTcbSvn: [1, 1, 5] }, { tcbInfo: { levels: levelsTdx, moduleIdentities } });
    expect(tooOld.failed).toEqual(["tdx.tcb.module_level"]);
    expect(tooOld.v.result.claims.tcb_status).toBe("NoMatchingTcbLevel");
    const missing = await run({ teeTcbSvn: [7, 2, 5] }, { tcbInfo: { levels: levelsTdx, moduleIdentities } });
    expect(missing.failed).toEqual(["tdx.tcb.module_identity"]);
    expect(missing.v.result.checks.find((c) => c.name === "tdx.tcb.module_identity")?.detail).toMatch(/no TDX module identity TDX_02/);
  });

  it("a TDX module signed by someone else fails tdx.tcb.module_identity", async () => {
    const { failed } = await run({ mrSignerSeam: Buffer.alloc(48, 0xee) }, {});
    expect(failed).toEqual(["tdx.tcb.module_identity"]);
  });

  it("a QE that is not Intel's TD_QE fails tdx.qe_identity.match; a QE below every level fails tdx.qe_identity.level", async () => {
    const foreign = await run({ qeMrSigner: Buffer.alloc(32, 0x42) }, {});
    expect(foreign.failed).toEqual(["tdx.qe_identity.match"]);
    expect(foreign.v.result.checks.find((c) => c.name === "tdx.qe_identity.match")?.detail).toMatch(/MRSIGNER/);
    const below = await run({ qeIsvSvn: 3 }, {});
    expect(below.failed).toEqual(["tdx.qe_identity.level"]);
    expect(below.v.result.claims.tcb_status).toBe("NoMatchingTcbLevel");
  });

  it("a debug TD is contraindicated unless policy allows debug", async () => {
    const dbg = Buffer.from("0100001000000000", "hex");
    const { v, appraisal } = await run({ tdAttributes: dbg }, {});
    expect(v.result.ok).toBe(true);
    expect(v.result.claims.td_attributes).toMatchObject({ debug: true, sept_ve_disable: true });
    expect(appraisal.status).toBe("contraindicated");
    expect(appraiseTdx(v.result, { allowDebug: true }).status).toBe("affirming");
  });

  it("reference values: MRTD must be listed when a list is configured", async () => {
    const { v } = await run({}, {});
    expect(appraiseTdx(v.result, validateTdxPolicy({ reference: { mrtd: ["a5".repeat(48)] } })).status).toBe("affirming");
    const other = appraiseTdx(v.result, validateTdxPolicy({ reference: { mrtd: ["00".repeat(48)] } }));
    expect(other.status).toBe("contraindicated");
    expect(other.checks.find((c) => c.name === "tdx.policy.reference.mrtd")?.ok).toBe(false);
  });

  it("a revoked PCK serial fails tdx.crl.pck.revocation end to end", async () => {
    const { failed, appraisal } = await run({ pckSerial: "badc0de5" }, { revokedPck: ["badc0de5"] });
    expect(failed).toEqual(["tdx.crl.pck.revocation"]);
    expect(appraisal.status).toBe("contraindicated");
  });

  it("expired and not-yet-valid fake collateral and certificates", async () => {
    const exp = await run({}, { tcbInfo: { nextUpdate: new Date(FAKE_EPOCH.getTime() - 1000) } });
    expect(exp.failed).toEqual(["tdx.collateral.tcb_info.validity"]);
    const early = await run({ pckNotBefore: new Date(FAKE_EPOCH.getTime() + 1000) }, {});
    expect(early.failed).toEqual(["tdx.pck.chain.validity"]);
    const late = await run({ pckNotAfter: new Date(FAKE_EPOCH.getTime() - 1000) }, {});
    expect(late.failed).toEqual(["tdx.pck.chain.validity"]);
  });
});
