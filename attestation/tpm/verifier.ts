import type { VerificationResult } from "../result.js";
import type { Verifier, VerifyExpectations } from "../verifier.js";
import { normalizeFingerprint } from "./ak.js";
import { verifyTpmEvidence, type TpmClaims, type TpmVerifierOptions } from "./verify.js";

/** The `Verifier` for tee "tpm" (Trustee's TPM evidence). Options are validated at construction. */
export class TpmVerifier implements Verifier {
  readonly tee = "tpm" as const;
  private readonly options: TpmVerifierOptions;

  constructor(options: TpmVerifierOptions = {}) {
    // Normalise now so a typo in the configuration fails at start-up, not at the first attestation.
    const trustedAkFingerprints = (options.trustedAkFingerprints ?? []).map(normalizeFingerprint);
    this.options = { ...options, trustedAkFingerprints };
  }

  verify(evidence: unknown, expectations: VerifyExpectations): Promise<VerificationResult<TpmClaims>> {
    return verifyTpmEvidence(evidence, expectations, this.options);
  }
}
