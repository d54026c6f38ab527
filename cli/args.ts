import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "./errors.js";
import { messageOf } from "../lib/errors.js";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** node:util parseArgs, strict, with a UsageError that names the command. */
export function parse<O extends Options>(command: string, argv: string[], options: O, allowPositionals = true) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals });
  } catch (err) {
    throw new UsageError(`${command}: ${messageOf(err)}. See \`propeller help\`.`);
  }
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
