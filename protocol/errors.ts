import { PropellerError } from "../lib/errors.js";

// The base class lives in lib/ (the bottom layer); protocol/ and every box import it from here or there.
export { PropellerError };

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
