/**
 * Typed errors of the proplet. Each `code` is stable: it travels in `task.result.error.code` to the
 * manager and the user, so the reason a run failed is machine-readable.
 */
import { ConfigError } from "../lib/config-error.js";
import { PropellerError } from "../protocol/errors.js";

/** The proplet's configuration is invalid (one message per bad value). */
export class PropletConfigError extends ConfigError {
  constructor(problems: string[]) {
    super(`invalid proplet configuration: ${problems.join("; ")}`, { code: "invalid_config", problems });
  }
}

export type ArtifactErrorCode =
  | "artifact_unreachable"
  | "artifact_http_status"
  | "artifact_too_large"
  | "artifact_timeout"
  | "artifact_invalid"
  | "unsupported_artifact_source"
  | "artifact_refused"
  | "artifact_corrupt";

/** The workload's bytes could not be obtained. */
export class ArtifactError extends PropellerError {
  constructor(code: ArtifactErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}

/** The bytes are not a (supported) WebAssembly module. */
export class InvalidWasmError extends PropellerError {
  constructor(message: string) {
    super("invalid_wasm", message);
  }
}

/** The module needs more memory than the run may have. */
export class MemoryLimitError extends PropellerError {
  constructor(message: string) {
    super("memory_limit", message);
  }
}

/** The entrypoint cannot be called as asked (missing export, wrong inputs, unsupported types). */
export class EntrypointError extends PropellerError {
  constructor(code: "export_not_found" | "invalid_inputs" | "unsupported_signature", message: string) {
    super(code, message);
  }
}
