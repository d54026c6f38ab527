/**
 * Base class of every typed error in Propeller. `code` is stable (APIs and the CLI map it to
 * statuses and messages); `message` says what happened and, where it helps, what to do next.
 */
export class PropellerError extends Error {
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}

/** A message or document failed validation against its schema. */
export class SchemaError extends PropellerError {
  constructor(message: string, details?: Record<string, unknown>) {
    super("invalid_message", message, details);
  }
}

/** A content digest did not match, or was malformed. */
export class DigestError extends PropellerError {
  constructor(code: "digest_mismatch" | "digest_malformed", message: string, details?: Record<string, unknown>) {
    super(code, message, details);
  }
}

/** Something was larger than the bound that applies to it. */
export class SizeLimitError extends PropellerError {
  constructor(message: string, details?: Record<string, unknown>) {
    super("too_large", message, details);
  }
}
