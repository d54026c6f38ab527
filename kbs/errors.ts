import { ConfigError } from "../lib/config-error.js";
import { PropellerError } from "../protocol/errors.js";

/**
 * Error variants of the KBS protocol. The `type` URI and the HTTP status are what a stock Trustee
 * client sees: 401 only where attesting again helps, 403 for a policy deny, 404 for an unknown
 * resource (KBS-PROTOCOL.md, "Errors").
 */
export const KBS_ERROR_TYPE_PREFIX = "https://github.com/confidential-containers/kbs/errors/";

export type KbsErrorVariant =
  | "InvalidRequest"
  | "PayloadTooLarge"
  | "ProtocolVersion"
  | "UnsupportedTee"
  | "TeeNotAllowed"
  | "UnAuthenticatedCookie"
  | "ExpiredCookie"
  | "NonceMismatch"
  | "NonceReused"
  | "InvalidRuntimeData"
  | "TokenNotFound"
  | "TokenInvalid"
  | "TokenExpired"
  | "PolicyDeny"
  | "ResourceNotFound"
  | "AdminAuthDisabled"
  | "AdminTokenMissing"
  | "AdminTokenInvalid"
  | "AdminForbidden"
  | "InvalidPolicy"
  | "NotFound"
  | "TooManyRequests"
  | "InternalError";

const STATUS: Record<KbsErrorVariant, number> = {
  InvalidRequest: 400,
  PayloadTooLarge: 413,
  ProtocolVersion: 400,
  UnsupportedTee: 400,
  TeeNotAllowed: 403,
  UnAuthenticatedCookie: 401,
  ExpiredCookie: 401,
  NonceMismatch: 401,
  NonceReused: 401,
  InvalidRuntimeData: 400,
  TokenNotFound: 401,
  TokenInvalid: 401,
  TokenExpired: 401,
  PolicyDeny: 403,
  ResourceNotFound: 404,
  AdminAuthDisabled: 403,
  AdminTokenMissing: 401,
  AdminTokenInvalid: 401,
  AdminForbidden: 403,
  InvalidPolicy: 400,
  NotFound: 404,
  TooManyRequests: 429,
  InternalError: 500,
};

export class KbsError extends PropellerError {
  readonly variant: KbsErrorVariant;
  readonly status: number;
  /** Set once the refusal has its audit row, so the error handler does not write a second. */
  audited = false;

  constructor(variant: KbsErrorVariant, detail: string, details?: Record<string, unknown>) {
    super(`kbs_${variant.replace(/[A-Z]/g, (c, i: number) => (i === 0 ? c.toLowerCase() : `_${c.toLowerCase()}`))}`, detail, details);
    this.variant = variant;
    this.status = STATUS[variant];
  }

  body(): { type: string; detail: string } {
    return { type: `${KBS_ERROR_TYPE_PREFIX}${this.variant}`, detail: this.message };
  }
}

/** A configuration value that cannot be used; `problems` lists every one found, not only the first. */
export class KbsConfigError extends ConfigError {
  constructor(problems: string[]) {
    super(`invalid KBS configuration:\n  - ${problems.join("\n  - ")}`, { code: "kbs_config_invalid", problems });
  }
}
