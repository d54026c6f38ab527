/**
 * The one shape of a check and of a list of checks, for everything that reports every check it
 * made rather than stopping at the first failure: verifiers and appraisal (attestation/), receipt
 * verification (protocol/receipt/, the manager's receipt check in the REST API), certificate
 * checks (certs/), and the CLI's JSON output of all of them.
 */
import { Type } from "@sinclair/typebox";

/** One check. */
export interface Check {
  /** Stable, dotted name, e.g. `snp.signature`, `token.signature`, `cert.not-revoked`. */
  name: string;
  ok: boolean;
  /** What was found, or why it failed, in words an operator understands. */
  detail?: string;
}

/** A check that always says what it found (every receipt check does). */
export interface ExplainedCheck extends Check {
  detail: string;
}

/** The outcome of one check before it is named (a helper's answer the caller adds under its name). */
export type CheckOutcome = Omit<ExplainedCheck, "name">;

/** An explained check in JSON (the REST API's receipt check lists it). */
export const ExplainedCheckSchema = Type.Object({ name: Type.String(), ok: Type.Boolean(), detail: Type.String() });

/** A list of checks and its outcome: `ok` only when every check passed. */
export interface Checked<C extends Check = Check> {
  ok: boolean;
  checks: C[];
}

/** Collects checks; `ok` is derived, so a checker cannot forget to fail. */
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
  /** True when at least one check was made and every one passed. */
  get ok(): boolean {
    return this.checks.length > 0 && this.checks.every((c) => c.ok);
  }
  get failures(): Check[] {
    return this.checks.filter((c) => !c.ok);
  }
}
