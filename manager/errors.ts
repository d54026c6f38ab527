import { PropellerError } from "../protocol/errors.js";

/** A task, run or proplet that does not exist (HTTP 404). */
export class NotFoundError extends PropellerError {
  constructor(code: "task_not_found" | "run_not_found" | "proplet_not_found" | "no_result" | "no_receipt" | "workflow_not_found" | "job_not_found" | "function_not_found", message: string) {
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

/** A configuration value is missing or wrong; the message names every bad value. */
export class ConfigError extends PropellerError {
  constructor(message: string, details?: Record<string, unknown>) {
    super("invalid_config", message, details);
  }
}
