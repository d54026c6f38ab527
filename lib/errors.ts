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

/** The message of anything thrown: an Error's message, otherwise its string form. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === "object" && err !== null && typeof (err as { message?: unknown }).message === "string") return (err as { message: string }).message;
  return String(err);
}
