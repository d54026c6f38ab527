import type { Logger } from "pino";
import type { VerificationResult } from "../result.js";
import { withTeeAppraisal } from "../appraisal/tee-appraisal.js";
import { appraiseSnpClaims, type SnpAppraisalPolicy } from "../snp/appraise.js";
import { ChainCache, type AmdRoots } from "../snp/certs.js";
import { validateSnpPolicy } from "../snp/config.js";
import type { Verifier, VerifyExpectations } from "../verifier.js";
import { verifyAzSnpVtpmEvidence, type AzSnpVtpmClaims } from "./verify.js";

export interface AzSnpVtpmVerifierOptions {
  /**
   * Policy for the SNP claims (the HCL runs at VMPL 0, which the default requires). Its checks join
   * the result. `false`: appraisal is the caller's.
   */
  policy?: SnpAppraisalPolicy | false;
  roots?: AmdRoots;
  cache?: ChainCache;
  logger?: Logger;
}

/** The `Verifier` for tee "az-snp-vtpm" (Trustee's evidence v0, v1, v2). */
export class AzSnpVtpmVerifier implements Verifier {
  readonly tee = "az-snp-vtpm" as const;
  private readonly options: AzSnpVtpmVerifierOptions;

  constructor(options: AzSnpVtpmVerifierOptions = {}) {
    const policy = options.policy === undefined || options.policy === false ? options.policy : validateSnpPolicy(options.policy);
    this.options = { ...options, policy, cache: options.cache ?? new ChainCache(256) };
  }

  async verify(evidence: unknown, expectations: VerifyExpectations): Promise<VerificationResult<AzSnpVtpmClaims>> {
    const { policy, ...rest } = this.options;
    const result = await verifyAzSnpVtpmEvidence(evidence, expectations, rest);
    if (policy === false) return result;
    return withTeeAppraisal(result, appraiseSnpClaims(result.claims.snp, policy ?? {}));
  }
}
