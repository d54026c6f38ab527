import { createHash } from "node:crypto";
import { EvidenceFormatError } from "../errors.js";
import { algName, hashInfo, type TpmHashName } from "./alg.js";
import type { PcrSelection } from "./attest.js";

/** PCR values per bank, indexed by PCR number (a sparse array is fine: only selected ones are read). */
export type PcrBanks = Partial<Record<TpmHashName, ReadonlyArray<Uint8Array | undefined>>>;

/**
 * Recomputes a quote's pcrDigest: the digest (with the signing scheme's hash, `digestAlg`) of the
 * selected PCR values concatenated bank by bank in selection order, ascending PCR index within a
 * bank (TPM 2.0 Part 3, TPM2_Quote; PCRComputeCurrentDigest). Throws EvidenceFormatError when a
 * selected PCR value is missing or has the wrong length for its bank.
 */
export function computePcrDigest(selection: readonly PcrSelection[], banks: PcrBanks, digestAlg: number): Buffer {
  const digestInfo = hashInfo(digestAlg);
  if (!digestInfo?.node) throw new EvidenceFormatError(`PCR digest: hash ${algName(digestAlg)} is not supported`);
  const h = createHash(digestInfo.node);
  for (const sel of selection) {
    const bank = banks[sel.hash];
    const size = hashInfo(sel.hashAlg)?.size;
    for (const index of sel.pcrs) {
      const value = bank?.[index];
      if (!value) throw new EvidenceFormatError(`PCR digest: no ${sel.hash} value for PCR ${index}, which the quote selects`);
      if (value.byteLength !== size) {
        throw new EvidenceFormatError(`PCR digest: ${sel.hash} PCR ${index} is ${value.byteLength} bytes, not ${size}`);
      }
      h.update(value);
    }
  }
  return h.digest();
}
