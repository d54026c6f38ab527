import { PropellerError } from "../protocol/errors.js";

/** A command-line usage problem: wrong flags or arguments. Exit code 2. */
export class UsageError extends PropellerError {
  constructor(message: string) {
    super("usage", message);
  }
}

/** The manager (or KBS) answered with an error, or could not be reached. Exit code 1. */
export class RemoteError extends PropellerError {
  constructor(
    code: string,
    message: string,
    readonly status: number | undefined,
  ) {
    super(code, message, status === undefined ? undefined : { status });
  }
}
