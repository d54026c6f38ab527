import type { Logger } from "pino";
import { fitReportData, type Attester } from "../attester.js";
import { EvidenceFormatError } from "../errors.js";
import { encodeTdxEvidence, type TdxEvidenceJson } from "../tdx/evidence.js";
import { parseTdxQuote } from "../tdx/quote.js";
import { readTsmReport, TSM_INBLOB_SIZE } from "./configfs-tsm.js";

export const TDX_TSM_PROVIDER = "tdx_guest";

export interface TdxAttesterOptions {
  /** configfs-tsm report root; default /sys/kernel/config/tsm/report. */
  root?: string;
  timeoutMs?: number;
  logger?: Logger;
}

/**
 * Intel TDX through configfs-tsm: the report data (zero-padded to 64 bytes) goes in as `inblob`
 * and `outblob` is the DCAP quote the kernel obtained from the quoting service. The result is
 * Trustee's TDX evidence `{quote}` (no CCEL event log: RTMR replay is not done by our verifier).
 */
export class TdxAttester implements Attester {
  readonly tee = "tdx" as const;
  constructor(private readonly options: TdxAttesterOptions = {}) {}

  async evidence(reportData: Uint8Array): Promise<TdxEvidenceJson> {
    const inblob = fitReportData(reportData, TSM_INBLOB_SIZE);
    const req: Parameters<typeof readTsmReport>[0] = { inblob, provider: TDX_TSM_PROVIDER };
    if (this.options.root !== undefined) req.root = this.options.root;
    if (this.options.timeoutMs !== undefined) req.timeoutMs = this.options.timeoutMs;
    const tsm = await readTsmReport(req);
    const quote = parseTdxQuote(tsm.outblob);
    // Cheap self-check: a quote that does not carry our report data would only be refused later.
    if (!Buffer.from(quote.body.reportData).equals(inblob)) throw new EvidenceFormatError("the TDX quote's REPORTDATA is not the report data written to inblob");
    this.options.logger?.debug({ generation: tsm.generation, bytes: tsm.outblob.byteLength }, "tdx quote read through configfs-tsm");
    return encodeTdxEvidence(tsm.outblob);
  }
}
