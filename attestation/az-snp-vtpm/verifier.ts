import type { Logger } from "pino";
import type { VerificationResult } from "../result.js";
import { ChainCache, type AmdRoots } from "../snp/certs.js";
import type { Verifier, VerifyExpectations } from "../verifier.js";
import { verifyAzSnpVtpmEvidence, type AzSnpVtpmClaims } from "./verify.js";

export interface AzSnpVtpmVerifierOptions {
  roots?: AmdRoots;
  cache?: ChainCache;
  logger?: Logger;
}

/**
 * The `Verifier` for tee "az-snp-vtpm" (Trustee's evidence v0, v1, v2). The SNP rules (the HCL
 * runs at VMPL 0, which the default requires) are the appraisal stage's.
 */
export class AzSnpVtpmVerifier implements Verifier {
  readonly tee = "az-snp-vtpm" as const;
  private readonly options: AzSnpVtpmVerifierOptions;

  constructor(options: AzSnpVtpmVerifierOptions = {}) {
    this.options = { ...options, cache: options.cache ?? new ChainCache(256) };
  }

  verify(evidence: unknown, expectations: VerifyExpectations): Promise<VerificationResult<AzSnpVtpmClaims>> {
    return verifyAzSnpVtpmEvidence(evidence, expectations, this.options);
  }
}
