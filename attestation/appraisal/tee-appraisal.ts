import type { Check, Claims, VerificationResult } from "../result.js";

/**
 * What a TEE's own rules (snp/appraise.ts, tdx/appraise.ts, named in tees.ts) conclude about
 * verified claims: one of EAR's three verdicts and a check per rule. It is the first part of the
 * appraisal stage (tee-policy.ts); appraise.ts then turns the claims into the token's
 * `ear.status` and trust vector.
 */
export const TEE_APPRAISAL_STATUSES = ["affirming", "warning", "contraindicated"] as const;
export type TeeAppraisalStatus = (typeof TEE_APPRAISAL_STATUSES)[number];

export interface TeeAppraisal {
  status: TeeAppraisalStatus;
  checks: Check[];
  /** Claims the rules add for the token (TDX's `ear_status`). */
  claims?: Claims;
}

/**
 * A verification result with a TEE's rules joined in: the rules' checks follow the verifier's, and
 * `ok` (genuine and acceptable) fails when the verification failed or the rules found the claims
 * contraindicated. A "warning" still passes; the TEE says so in its claims (TDX's `ear_status`)
 * for appraise.ts.
 */
export function withTeeAppraisal<C extends Claims>(result: VerificationResult<C>, appraisal: TeeAppraisal): VerificationResult<C> {
  const claims = appraisal.claims ? { ...result.claims, ...appraisal.claims } : result.claims;
  return { ...result, ok: result.ok && appraisal.status !== "contraindicated", checks: [...result.checks, ...appraisal.checks], claims };
}
