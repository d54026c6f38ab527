import type { TeeType } from "../protocol/index.js";

/**
 * One check a verifier made. Verifiers never stop at the first failure where going on is safe:
 * an operator reading `propeller attestation verify` output should see every check and its outcome.
 */
export interface Check {
  /** Stable, dotted name, e.g. `snp.signature`, `snp.chain.ask`, `tdx.tcb.status`. */
  name: string;
  ok: boolean;
  /** What was found, or why it failed, in words an operator understands. */
  detail?: string;
}

/** Claims are flat-ish JSON: hex strings for measurements, numbers for versions, booleans for flags. */
export type Claims = Record<string, unknown>;

export interface VerificationResult<C extends Claims = Claims> {
  tee: TeeType;
  /** True only when every check passed. */
  ok: boolean;
  claims: C;
  checks: Check[];
}

/** Collects checks; `ok` is derived, so a verifier cannot forget to fail. */
export class CheckList {
  readonly checks: Check[] = [];

  add(name: string, ok: boolean, detail?: string): boolean {
    this.checks.push(detail === undefined ? { name, ok } : { name, ok, detail });
    return ok;
  }
  pass(name: string, detail?: string): true {
    this.add(name, true, detail);
    return true;
  }
  fail(name: string, detail: string): false {
    this.add(name, false, detail);
    return false;
  }
  get ok(): boolean {
    return this.checks.length > 0 && this.checks.every((c) => c.ok);
  }
  get failures(): Check[] {
    return this.checks.filter((c) => !c.ok);
  }
  result<C extends Claims>(tee: TeeType, claims: C): VerificationResult<C> {
    return { tee, ok: this.ok, claims, checks: this.checks };
  }
}
