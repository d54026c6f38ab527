import pino, { type Logger } from "pino";
import { createLogger } from "../lib/logger.js";

/** Structured logs to stderr (stdout stays for command output). Level from --log-level or PROPELLER_LOG_LEVEL. */
export function cliLogger(level?: string): Logger {
  return createLogger(undefined, { ...(level !== undefined ? { level } : {}), bare: true, destination: pino.destination(2) });
}
