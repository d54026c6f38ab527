import { CheckList as ProtocolCheckList, type Check, type Checked, type TeeType } from "../protocol/index.js";

/**
 * A check a verifier made (protocol/check.ts). Verifiers never stop at the first failure where
 * going on is safe: an operator reading `propeller attestation verify` output should see every
 * check and its outcome.
 */
export type { Check };

/** Claims are flat-ish JSON: hex strings for measurements, numbers for versions, booleans for flags. */
export type Claims = Record<string, unknown>;

/** What a verifier returns: its checks (`ok` only when every one passed) and the claims it read. */
export interface VerificationResult<C extends Claims = Claims> extends Checked {
  tee: TeeType;
  claims: C;
}

/** protocol's check list, which also builds a verifier's result. */
export class CheckList extends ProtocolCheckList {
  result<C extends Claims>(tee: TeeType, claims: C): VerificationResult<C> {
    return { tee, ok: this.ok, claims, checks: this.checks };
  }
}
