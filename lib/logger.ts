import pino, { type DestinationStream, type Logger, type LoggerOptions } from "pino";
import { activeTraceFields } from "./tracing/spans.js";

/**
 * One logger factory for every box, so that every process writes the same JSON shape: pino's
 * `name` says which box wrote the line, child loggers add the fields below (always these names),
 * and the same redaction keeps credentials out of every log.
 *
 * Field names, everywhere: `box` (a process part inside a combined stack: broker, manager, kbs,
 * proplet), `component` (a part inside one box: http, mqtt, auth), `propletId`, `taskId`, `runId`,
 * `functionId`, `invocationId`, `keyId`, `topic`, and `err` for an error (pino's serializer).
 * A line written inside a traced span also carries `trace_id` and `span_id` (logs join traces).
 */
export interface LogFields {
  box?: string;
  component?: string;
  propletId?: string;
  taskId?: string;
  runId?: string;
  functionId?: string;
  invocationId?: string;
  keyId?: string;
  topic?: string;
}

/** Never in a log line: credentials in headers, key text, tokens, secret env values. */
export const LOG_REDACT_PATHS: readonly string[] = [
  "req.headers.authorization",
  "req.headers.cookie",
  "headers.authorization",
  "authorization",
  "key",
  "token",
  "secretEnv",
  "*.secretEnv",
  "*.key",
  "*.token",
];

export const LOG_REDACT: NonNullable<LoggerOptions["redact"]> = { paths: [...LOG_REDACT_PATHS], censor: "[redacted]" };

export interface LoggerSettings {
  /** pino level; defaults to PROPELLER_LOG_LEVEL, then "info". */
  level?: string;
  /** Where lines go (default stdout). */
  destination?: DestinationStream;
  /** Leave out pid and hostname (the CLI's stderr lines). */
  bare?: boolean;
}

/** The logger of one box: `name` is the box ("propeller-manager", "proplet", "kbs", …). */
export function createLogger(name: string | undefined, settings: LoggerSettings = {}): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? process.env.PROPELLER_LOG_LEVEL ?? "info",
    redact: LOG_REDACT,
    // The active span's ids (none when tracing is off: the API's no-op answers at once).
    mixin: activeTraceFields,
    ...(name !== undefined ? { name } : {}),
    ...(settings.bare ? { base: undefined } : {}),
  };
  return settings.destination ? pino(options, settings.destination) : pino(options);
}

/** A child logger with the shared field names (typed, so a misspelt field does not compile). */
export function childLogger(parent: Logger, fields: LogFields): Logger {
  return parent.child(fields);
}
