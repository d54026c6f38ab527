import pino, { type Logger } from "pino";

/** Structured logs to stderr (stdout stays for command output). Level from --log-level or PROPELLER_LOG_LEVEL. */
export function cliLogger(level?: string): Logger {
  return pino({ level: level ?? process.env.PROPELLER_LOG_LEVEL ?? "info", base: undefined }, pino.destination(2));
}
