import type { Claims, VerificationResult } from "../../result.js";
import type { Verifier, VerifyExpectations } from "../../verifier.js";
import { appraiseTeePolicy, validateTeePolicy } from "../tee-policy.js";

/**
 * A verifier followed by its TEE's rules, as the KBS runs them (appraisal/tee-policy.ts), for tests
 * that assert what a policy accepts. `policy` is validated first, as the KBS does at start-up.
 */
export function appraised<C extends Claims>(
  verifier: { readonly tee: Verifier["tee"]; verify(evidence: unknown, expectations: VerifyExpectations): Promise<VerificationResult<C>> },
  policy?: unknown,
): { verify(evidence: unknown, expectations: VerifyExpectations): Promise<VerificationResult<C>> } {
  const validated = policy === undefined ? undefined : validateTeePolicy(verifier.tee, policy);
  return { verify: async (evidence, expectations) => appraiseTeePolicy(await verifier.verify(evidence, expectations), validated) };
}
