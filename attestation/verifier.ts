import type { TeeType } from "../protocol/index.js";
import type { VerificationResult } from "./result.js";

/** What the relying party expects the evidence to be bound to. */
export interface VerifyExpectations {
  /**
   * Expected report data (the TEE's user-data field), already padded or truncated to the TEE's
   * field length. When set, a mismatch is a failed check.
   */
  reportData?: Uint8Array;
  /** Clock for certificate and collateral validity; defaults to now. Injectable for old vectors. */
  now?: Date;
}

/**
 * A verifier for one TEE: parse → verify signatures and chains → (appraisal is done elsewhere,
 * against reference values and policy). `evidence` is the TEE-specific `primary_evidence` JSON of
 * the KBS protocol (Trustee's format for that TEE).
 */
export interface Verifier {
  readonly tee: TeeType;
  verify(evidence: unknown, expectations: VerifyExpectations): Promise<VerificationResult>;
}
