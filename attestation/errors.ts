import { PropellerError } from "../protocol/errors.js";

/** Evidence bytes or JSON that cannot be parsed (wrong length, bad version, bad encoding). */
export class EvidenceFormatError extends PropellerError {
  constructor(message: string, details?: Record<string, unknown>) {
    super("evidence_malformed", message, details);
  }
}

/** Collateral (certificates, TCB info, CRLs) missing or unusable. */
export class CollateralError extends PropellerError {
  constructor(message: string, details?: Record<string, unknown>) {
    super("collateral_invalid", message, details);
  }
}
