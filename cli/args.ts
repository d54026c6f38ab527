import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "./errors.js";
import { messageOf } from "../lib/errors.js";

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * node:util parseArgs, strict, with a UsageError that names the command; an unknown option is
 * answered with the closest valid one and the full list, and every error points to `--help`.
 */
export function parse<O extends Options>(command: string, argv: string[], options: O, allowPositionals = true) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals });
  } catch (err) {
    const helpHint = `Run \`propeller ${command.trim()} --help\` for its usage.`;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      const given = /'([^']+)'/.exec(messageOf(err))?.[1] ?? "?";
      const valid = Object.keys(options).filter((name) => name !== "help").map((name) => `--${name}`).sort();
      const near = closest(given.replace(/=.*$/, ""), valid);
      const list = valid.length ? `valid options: ${valid.join(", ")}` : "it takes no options";
      throw new UsageError(`${command}: unknown option ${given}${near ? ` (did you mean ${near}?)` : ""}; ${list}. ${helpHint}`);
    }
    if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
      const given = /'([^']*)'/.exec(messageOf(err))?.[1] ?? "";
      throw new UsageError(`${command}: takes no arguments, got "${given}". ${helpHint}`);
    }
    throw new UsageError(`${command}: ${messageOf(err)}. ${helpHint}`);
  }
}

/** The valid option nearest to a mistyped one (edit distance at most 2, or a unique prefix). */
function closest(given: string, valid: string[]): string | undefined {
  const prefixed = valid.filter((v) => v.startsWith(given) && given.length > 3);
  if (prefixed.length === 1) return prefixed[0];
  let best: { name: string; distance: number } | undefined;
  for (const name of valid) {
    const d = editDistance(given, name);
    if (d <= 2 && (!best || d < best.distance)) best = { name, distance: d };
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

/** `--env K=V` values into an object; rejects entries without `=`. */
export function parseEnvPairs(pairs: string[] | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs ?? []) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new UsageError(`--env expects NAME=VALUE, got "${pair}"`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}

export function parsePositiveInt(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} expects a positive whole number, got "${value}"`);
  return n;
}
