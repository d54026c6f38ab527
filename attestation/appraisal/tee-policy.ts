import { ConfigError } from "../../lib/config-error.js";
import type { Claims, VerificationResult } from "../result.js";
import { attestationTee } from "../tees.js";
import { withTeeAppraisal } from "./tee-appraisal.js";

/**
 * The TEE-rules part of the appraisal stage. Verifiers only parse and verify; this applies the
 * TEE's own rules (tees.ts `policyRules`: SNP's debug/VMPL/TCB rules, TDX's TCB-status table)
 * to their result, then appraise.ts turns the claims into an EAR status. Deny by default: with no
 * configured policy the rules' defaults apply (no debug guest, VMPL 0, no migration agent, …).
 */

/** Checks the configured rules of `tee` at start-up; a TEE without rules takes no policy. */
export function validateTeePolicy(tee: string, policy: unknown): unknown {
  const rules = attestationTee(tee)?.policyRules;
  if (!rules) throw new ConfigError(`verifiers.${tee}.policy: the ${tee} TEE has no rules of its own to configure; remove the option`, { code: "tee_policy_invalid" });
  return rules.validate(policy);
}

/**
 * `result` with its TEE's rules joined in (their checks appended, `ok` false when they find the
 * claims contraindicated, their claims added). `policy` is one `validateTeePolicy` returned, or
 * undefined for the defaults. A TEE without rules gets its result back unchanged.
 */
export function appraiseTeePolicy<C extends Claims>(result: VerificationResult<C>, policy?: unknown): VerificationResult<C> {
  const rules = attestationTee(result.tee)?.policyRules;
  if (!rules) return result;
  return withTeeAppraisal(result, rules.appraise(result, policy ?? rules.validate({})));
}
