import pino, { type DestinationStream, type Logger } from "pino";
import { createLogger } from "../lib/logger.js";

const LEVELS: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };
const SHOWN_FIRST = new Set(["level", "time", "msg", "box", "name", "pid", "hostname"]);

/**
 * One pino JSON line as a person reads it: `12:00:01 WARN  kbs: message key=value …`. Values with
 * spaces or structure are JSON; an `err` shows its message.
 */
export function formatLogLine(line: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.replace(/\n$/, "");
  }
  const time = typeof record.time === "number" ? new Date(record.time).toISOString().slice(11, 19) : "--:--:--";
  const level = (LEVELS[Number(record.level)] ?? String(record.level)).padEnd(5);
  const box = typeof record.box === "string" ? `${record.box}: ` : "";
  const fields: string[] = [];
  for (const [key, value] of Object.entries(record)) {
    if (SHOWN_FIRST.has(key) || value === undefined) continue;
    const shown =
      key === "err" && value && typeof value === "object" && "message" in value
        ? String((value as { message: unknown }).message)
        : typeof value === "string" && /^[^\s"=]{1,200}$/.test(value)
          ? value
          : JSON.stringify(value);
    fields.push(`${key}=${shown}`);
  }
  return `${time} ${level} ${box}${String(record.msg ?? "")}${fields.length ? `  ${fields.join(" ")}` : ""}`;
}

/** A pino destination that writes each line formatted for a person. */
export function prettyStream(write: (text: string) => void): DestinationStream {
  return { write: (line: string) => write(`${formatLogLine(line)}\n`) };
}

/**
 * The CLI's logs, never on stdout (that is for results): to `file` as JSON lines when given, else
 * to stderr, readable when stderr is a terminal and JSON otherwise (PROPELLER_LOG_FORMAT=pretty|json
 * chooses). Level from --log-level or PROPELLER_LOG_LEVEL.
 */
export function cliLogger(level?: string, file?: string, env: NodeJS.ProcessEnv = process.env): Logger {
  const format = env.PROPELLER_LOG_FORMAT;
  let destination: DestinationStream;
  if (file) destination = pino.destination({ dest: file, mkdir: true, append: true, sync: true });
  else if (format === "pretty" || (format !== "json" && process.stderr.isTTY)) destination = prettyStream((text) => void process.stderr.write(text));
  else destination = pino.destination(2);
  return createLogger(undefined, { ...(level !== undefined ? { level } : {}), bare: true, destination });
}
