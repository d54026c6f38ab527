import type { Check, Claims, VerificationResult } from "../result.js";

/**
 * What a TEE's own policy step (snp/appraise.ts, tdx/appraise.ts) concludes about verified claims:
 * one of EAR's three verdicts and a check per rule. It is an input to the one appraisal step
 * (appraise.ts), which turns the claims into the token's `ear.status` and trust vector.
 */
export const TEE_APPRAISAL_STATUSES = ["affirming", "warning", "contraindicated"] as const;
export type TeeAppraisalStatus = (typeof TEE_APPRAISAL_STATUSES)[number];

export interface TeeAppraisal {
  status: TeeAppraisalStatus;
  checks: Check[];
}

/**
 * A verification result with a TEE policy's appraisal joined in, as the verifier classes return it:
 * the policy's checks follow the verifier's, and `ok` (genuine and acceptable) fails when the
 * verification failed or the policy found the claims contraindicated. A "warning" still passes;
 * the TEE says so in its claims (TDX's `ear_status`) for the appraisal step.
 */
export function withTeeAppraisal<C extends Claims>(result: VerificationResult<C>, appraisal: TeeAppraisal): VerificationResult<C> {
  return { ...result, ok: result.ok && appraisal.status !== "contraindicated", checks: [...result.checks, ...appraisal.checks] };
}
