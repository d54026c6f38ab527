import { PropellerError } from "../protocol/errors.js";

/** A task, run or proplet that does not exist (HTTP 404). */
export class NotFoundError extends PropellerError {
  constructor(code: "task_not_found" | "run_not_found" | "proplet_not_found" | "no_result" | "no_receipt" | "api_key_not_found" | "workflow_not_found" | "job_not_found" | "function_not_found" | "log_not_found" | "experiment_not_found" | "model_not_found", message: string) {
    super(code, message);
  }
}

/** A request that the current state does not allow (HTTP 409). */
export class ConflictError extends PropellerError {
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
  }
}

/** A request whose content is wrong beyond what its schema can say (HTTP 400). */
export class InvalidRequestError extends PropellerError {
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
  }
}

/** A configuration value is missing or wrong: lib's one ConfigError (code invalid_config), listing every bad value. */
export { ConfigError } from "../lib/config-error.js";

/** No credential, or one that is not (or no longer) valid (HTTP 401 with `WWW-Authenticate: Bearer`). */
export class UnauthorizedError extends PropellerError {
  constructor(code: "missing_credentials" | "invalid_credentials" | "revoked_credentials" | "expired_credentials", message: string) {
    super(code, message);
  }
}

/** A valid credential whose scopes do not allow the request (HTTP 403). */
export class ForbiddenError extends PropellerError {
  constructor(code: "insufficient_scope" | "route_without_scope", message: string, readonly scope: string | null) {
    super(code, message);
  }
}

/** A credential that cannot be checked right now (the JWT issuer's keys are unreachable) (HTTP 503). */
export class AuthUnavailableError extends PropellerError {
  constructor(message: string) {
    super("auth_unavailable", message);
  }
}

/** Too many failed authentications from one client address (HTTP 429 with Retry-After). */
export class TooManyFailuresError extends PropellerError {
  constructor(message: string, readonly retryAfterSeconds: number) {
    super("too_many_auth_failures", message);
  }
}

/** The manager cannot take this request now (a bound is reached); retry later (HTTP 503 with Retry-After). */
export class ServiceUnavailableError extends PropellerError {
  constructor(code: "too_many_followers", message: string) {
    super(code, message);
  }
}
