import type { TeeType } from "../protocol/index.js";

/**
 * The proplet side of attestation: produces evidence for one TEE whose user-data field carries
 * `reportData` (already hashed by the caller: SHA-384 of the JCS runtime-data, see KBS-PROTOCOL.md;
 * each attester pads or truncates it to its own field). The returned value is the KBS protocol's
 * `primary_evidence` JSON for that TEE, in Trustee's format, so a stock Trustee KBS accepts it.
 */
export interface Attester {
  readonly tee: TeeType;
  evidence(reportData: Uint8Array): Promise<unknown>;
}

/** Pads with zero bytes or truncates to `length` (how report data is fitted into each TEE's field). */
export function fitReportData(reportData: Uint8Array, length: number): Buffer {
  const out = Buffer.alloc(length);
  Buffer.from(reportData).copy(out, 0, 0, Math.min(length, reportData.byteLength));
  return out;
}
