import type { Attester } from "../attester.js";
import { EvidenceFormatError } from "../errors.js";
import { MAX_SAMPLE_REPORT_DATA, type SampleEvidenceJson } from "../sample/evidence.js";

/**
 * Trustee's sample "TEE": evidence `{"svn":"1","report_data":"<base64 of the report data>"}`,
 * unsigned. For development and tests only; a KBS accepts it only in explicit development mode.
 */
export class SampleAttester implements Attester {
  readonly tee = "sample" as const;
  private readonly svn: string;

  constructor(options: { svn?: number } = {}) {
    const svn = options.svn ?? 1;
    if (!Number.isInteger(svn) || svn < 0 || svn > 999_999_999) throw new RangeError(`svn ${svn} is not 0..999999999`);
    this.svn = String(svn);
  }

  async evidence(reportData: Uint8Array): Promise<SampleEvidenceJson> {
    // The report data goes in as given (48 bytes of SHA-384 from the agent), as guest-components does.
    if (reportData.byteLength === 0 || reportData.byteLength > MAX_SAMPLE_REPORT_DATA) {
      throw new EvidenceFormatError(`sample report data must be 1..${MAX_SAMPLE_REPORT_DATA} bytes, got ${reportData.byteLength}`);
    }
    return { svn: this.svn, report_data: Buffer.from(reportData).toString("base64") };
  }
}
