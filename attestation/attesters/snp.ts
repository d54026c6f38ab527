import type { Logger } from "pino";
import { fitReportData, type Attester } from "../attester.js";
import { EvidenceFormatError } from "../errors.js";
import { encodeSnpEvidence, parseCertTable, type SnpEvidenceJson } from "../snp/evidence.js";
import { parseSnpReport } from "../snp/report.js";
import { readTsmReport, TSM_INBLOB_SIZE } from "./configfs-tsm.js";

export const SNP_TSM_PROVIDER = "sev_guest";

export interface SnpAttesterOptions {
  /** configfs-tsm report root; default /sys/kernel/config/tsm/report. */
  root?: string;
  /** VMPL to request the report at (0..3); unset: the kernel's default. */
  privlevel?: number;
  timeoutMs?: number;
  logger?: Logger;
}

/**
 * AMD SEV-SNP through configfs-tsm: the report data (zero-padded to 64 bytes, as guest-components
 * does) goes in as `inblob`; `outblob` is the signed ATTESTATION_REPORT and `auxblob` the host's
 * certificate table (VCEK/VLEK, ASK, ARK). The result is Trustee's SNP evidence.
 */
export class SnpAttester implements Attester {
  readonly tee = "snp" as const;
  constructor(private readonly options: SnpAttesterOptions = {}) {}

  async evidence(reportData: Uint8Array): Promise<SnpEvidenceJson> {
    const inblob = fitReportData(reportData, TSM_INBLOB_SIZE);
    const req: Parameters<typeof readTsmReport>[0] = { inblob, provider: SNP_TSM_PROVIDER };
    if (this.options.root !== undefined) req.root = this.options.root;
    if (this.options.privlevel !== undefined) req.privlevel = this.options.privlevel;
    if (this.options.timeoutMs !== undefined) req.timeoutMs = this.options.timeoutMs;
    const tsm = await readTsmReport(req);
    const report = parseSnpReport(tsm.outblob);
    // Cheap self-check: evidence that does not carry our report data would only be refused later.
    if (!report.reportData.equals(inblob)) throw new EvidenceFormatError("the SNP report's REPORT_DATA is not the report data written to inblob");
    const certs = tsm.auxblob ? parseCertTable(tsm.auxblob) : {};
    this.options.logger?.debug({ generation: tsm.generation, certs: Object.keys(certs) }, "snp report read through configfs-tsm");
    return encodeSnpEvidence(report.raw, certs);
  }
}
