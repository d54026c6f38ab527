import type { Logger } from "pino";
import { fitReportData } from "../attester.js";
import { CheckList, type VerificationResult } from "../result.js";
import type { Verifier, VerifyExpectations } from "../verifier.js";
import { decodeSampleEvidence } from "./evidence.js";

export interface SampleClaims {
  [key: string]: unknown;
  /**
   * Always true. The sample TEE is no TEE: its evidence is unsigned JSON anyone can write, so
   * appraisal must refuse it outside explicit development mode. Appraisal keys on this claim.
   */
  sample_tee: true;
  /** Always false: nothing about this evidence is hardware-backed or signed. */
  hardware_backed: false;
  svn: number;
  /** report_data as sent, hex. */
  report_data: string;
  warnings: string[];
}

/** Shortest report_data we accept: below 32 bytes the binding to the session is too weak. */
const MIN_REPORT_DATA = 32;

/**
 * Verifies Trustee's sample evidence `{"svn":"1","report_data":"<base64>"}`. The only check is
 * the report-data binding (there is no signature to check); without an expectation the check
 * fails, because unbound sample evidence proves nothing at all.
 */
export async function verifySampleEvidence(evidence: unknown, expectations: VerifyExpectations, logger?: Logger): Promise<VerificationResult<SampleClaims>> {
  const json = decodeSampleEvidence(evidence);
  const reportData = Buffer.from(json.report_data, "base64");
  const checks = new CheckList();
  if (expectations.reportData === undefined) {
    checks.fail("sample.report_data", "no expected report data given; unbound sample evidence is refused");
  } else if (reportData.byteLength < MIN_REPORT_DATA) {
    checks.fail("sample.report_data", `report_data is ${reportData.byteLength} bytes; at least ${MIN_REPORT_DATA} are required`);
  } else {
    // Trustee compares the decoded bytes with the expected hash; fitting to the sent length also
    // accepts the hash zero-padded to the 64-byte field, which binds exactly the same value.
    const want = fitReportData(expectations.reportData, reportData.byteLength);
    checks.add(
      "sample.report_data",
      want.equals(reportData),
      want.equals(reportData) ? "report_data equals the expected report data" : `report_data ${reportData.toString("hex")} is not the expected ${want.toString("hex")}`,
    );
  }
  const claims: SampleClaims = {
    sample_tee: true,
    hardware_backed: false,
    svn: Number.parseInt(json.svn, 10),
    report_data: reportData.toString("hex"),
    warnings: ["sample_tee_unsigned"],
  };
  const result = checks.result("sample", claims);
  logger?.debug({ tee: "sample", ok: result.ok }, "sample evidence verified (unsigned; development only)");
  return result;
}

/** The `Verifier` for tee "sample". Accepting its result at all is the KBS's development-mode decision. */
export class SampleVerifier implements Verifier {
  readonly tee = "sample" as const;
  constructor(private readonly options: { logger?: Logger } = {}) {}

  verify(evidence: unknown, expectations: VerifyExpectations): Promise<VerificationResult<SampleClaims>> {
    return verifySampleEvidence(evidence, expectations, this.options.logger);
  }
}
