import type { VerificationResult } from "../result.js";
import type { Verifier, VerifyExpectations } from "../verifier.js";
import { TpmConfigError, normalizeFingerprint } from "./ak.js";
import { loadEkTrust } from "./ek.js";
import { verifyTpmEvidence, type TpmClaims, type TpmVerifierOptions } from "./verify.js";

/** The `Verifier` for tee "tpm" (Trustee's TPM evidence). Options are validated at construction. */
export class TpmVerifier implements Verifier {
  readonly tee = "tpm" as const;
  private readonly options: TpmVerifierOptions;

  constructor(options: TpmVerifierOptions = {}) {
    // Normalise now so a typo in the configuration fails at start-up, not at the first attestation.
    const trustedAkFingerprints = (options.trustedAkFingerprints ?? []).map(normalizeFingerprint);
    this.options = { ...options, trustedAkFingerprints };
    if (options.ekRoots) this.options.ekRoots = loadEkTrust(options.ekRoots);
    if (options.requireEkCert === true && !options.ekRoots) throw new TpmConfigError("requireEkCert needs ekRoots");
  }

  verify(evidence: unknown, expectations: VerifyExpectations): Promise<VerificationResult<TpmClaims>> {
    return verifyTpmEvidence(evidence, expectations, this.options);
  }
}
