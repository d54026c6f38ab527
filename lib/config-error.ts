import { PropellerError } from "./errors.js";

/**
 * A configuration value that cannot be used, raised at start-up. The one class every process uses
 * (manager, proplet, KBS, service environment, broker, verifiers): `code` keeps each box's stable
 * code, `problems` lists every bad value found (not only the first), each naming the variable or
 * option and, where there is one, the fix.
 */
export class ConfigError extends PropellerError {
  readonly problems: string[];

  constructor(message: string, options: { code?: string; problems?: string[]; details?: Record<string, unknown> } = {}) {
    const problems = options.problems ?? [message];
    super(options.code ?? "invalid_config", message, options.details ?? (options.problems ? { problems } : undefined));
    this.problems = problems;
  }

  /**
   * Every problem of one configuration in one error. `layout: "line"` joins them with "; " after
   * `heading` ("invalid environment: A; B"); `"list"` puts one per line ("heading:\n  - A\n  - B").
   */
  static of(heading: string, problems: string[], options: { code?: string; layout?: "line" | "list" } = {}): ConfigError {
    const message = options.layout === "list" ? `${heading}:\n  - ${problems.join("\n  - ")}` : `${heading}: ${problems.join("; ")}`;
    return new ConfigError(message, { problems, ...(options.code ? { code: options.code } : {}) });
  }
}

/** One problem line that names the variable (or option), what is wrong, and the fix when known. */
export function configProblem(variable: string, problem: string, fix?: string): string {
  return fix ? `${variable}: ${problem}; ${fix}` : `${variable}: ${problem}`;
}
