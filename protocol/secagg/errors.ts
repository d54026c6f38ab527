import { PropellerError } from "../errors.js";

export type SecAggErrorCode =
  /** A parameter set that cannot work (threshold, bounds, sizes). */
  | "secagg_bad_params"
  /** A message that is malformed, for the wrong round, or from someone not in it. */
  | "secagg_bad_message"
  /** A step taken out of order, or twice. */
  | "secagg_wrong_phase"
  /** Fewer participants than the threshold are left: the round cannot finish. */
  | "secagg_too_few"
  /** The shares given do not rebuild the secret they were committed to. */
  | "secagg_reconstruction_failed";

/** Secure aggregation refused a step; `code` says which rule, `message` what to do. */
export class SecAggError extends PropellerError {
  constructor(code: SecAggErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
  }
}
