import { PropellerError } from "../protocol/errors.js";

export type CertErrorCode =
  | "ca_exists"
  | "ca_missing"
  | "ca_invalid"
  | "cert_exists"
  | "cert_name_invalid"
  | "cert_san_invalid"
  | "cert_lifetime_invalid"
  | "cert_malformed";

/** A PKI operation was refused or its input was unusable. Never carries key material. */
export class CertError extends PropellerError {
  constructor(code: CertErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
  }
}
