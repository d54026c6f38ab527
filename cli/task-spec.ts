import { readFile } from "node:fs/promises";
import { sha256Digest } from "../protocol/index.js";
import { parseEnvPairs, parsePositiveInt } from "./args.js";
import { UsageError } from "./errors.js";

/** Flags shared by `task create` and `run` that describe a task. */
export const TASK_FLAGS = {
  name: { type: "string" },
  url: { type: "string" },
  digest: { type: "string" },
  export: { type: "string" },
  input: { type: "string", multiple: true },
  arg: { type: "string", multiple: true },
  env: { type: "string", multiple: true },
  "secret-env": { type: "string", multiple: true },
  stdin: { type: "string" },
  timeout: { type: "string" },
  memory: { type: "string" },
  "output-limit": { type: "string" },
  target: { type: "string" },
  tag: { type: "string", multiple: true },
  "on-proplet-loss": { type: "string" },
} as const;

export interface TaskFlagValues {
  name?: string;
  url?: string;
  digest?: string;
  export?: string;
  input?: string[];
  arg?: string[];
  env?: string[];
  "secret-env"?: string[];
  stdin?: string;
  timeout?: string;
  memory?: string;
  "output-limit"?: string;
  target?: string;
  tag?: string[];
  "on-proplet-loss"?: string;
}

/** Builds the manager's TaskCreate body from a Wasm file (or URL + digest) and flags. */
export async function buildTaskBody(wasmPath: string | undefined, flags: TaskFlagValues, extraArgs: string[] = []): Promise<Record<string, unknown>> {
  let artifact: Record<string, unknown>;
  let defaultName: string;
  if (flags.url) {
    if (!flags.digest) throw new UsageError("--url needs --digest sha256:<hex> (the proplet checks it before running anything)");
    if (wasmPath) throw new UsageError("give either a Wasm file or --url, not both");
    artifact = { digest: flags.digest, url: flags.url };
    defaultName = flags.url.split("/").pop() ?? "task";
  } else {
    if (!wasmPath) throw new UsageError("missing the Wasm file (or --url URL --digest sha256:…)");
    let bytes: Buffer;
    try {
      bytes = await readFile(wasmPath);
    } catch (err) {
      throw new UsageError(`cannot read ${wasmPath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const digest = sha256Digest(bytes);
    if (flags.digest && flags.digest !== digest) {
      throw new UsageError(`${wasmPath} has digest ${digest}, not the --digest given (${flags.digest})`);
    }
    artifact = { digest, inline: bytes.toString("base64") };
    defaultName = wasmPath.split("/").pop() ?? "task";
  }

  const body: Record<string, unknown> = {
    name: flags.name ?? defaultName,
    artifact,
    args: [...(flags.arg ?? []), ...extraArgs],
    env: parseEnvPairs(flags.env),
  };
  if (flags["secret-env"]?.length) body.secretEnv = secretEnvFromProcess(flags["secret-env"]);
  if (flags.export) {
    body.entrypoint = { kind: "export", name: flags.export, inputs: (flags.input ?? []).map(parseWasmValue) };
  } else if (flags.input?.length) {
    throw new UsageError("--input only goes with --export NAME");
  }
  if (flags.stdin !== undefined) {
    const data = flags.stdin === "-" ? await readStdin() : await readFile(flags.stdin).catch(() => {
      throw new UsageError(`cannot read --stdin file ${flags.stdin}`);
    });
    body.stdin = data.toString("base64");
  }
  const limits: Record<string, number> = {};
  if (flags.timeout) limits.timeoutMs = parsePositiveInt("--timeout", flags.timeout, 0);
  if (flags.memory) limits.memoryBytes = parsePositiveInt("--memory", flags.memory, 0);
  if (flags["output-limit"]) limits.outputBytes = parsePositiveInt("--output-limit", flags["output-limit"], 0);
  if (Object.keys(limits).length) body.limits = limits;
  if (flags.target) body.target = flags.target;
  if (flags.tag?.length) body.requirements = { tags: flags.tag };
  if (flags["on-proplet-loss"]) {
    if (!["fail", "reschedule"].includes(flags["on-proplet-loss"])) throw new UsageError("--on-proplet-loss is fail or reschedule");
    body.onPropletLoss = flags["on-proplet-loss"];
  }
  return body;
}

/**
 * `--secret-env NAME`: the value comes from this process's environment, never from the command line
 * (where shell history and the process list would keep it).
 */
function secretEnvFromProcess(names: string[]): Record<string, string> {
  const secret: Record<string, string> = {};
  for (const name of names) {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(name)) throw new UsageError(`--secret-env takes a variable NAME (its value is read from your environment), got "${name.split("=")[0]}=…"`);
    const value = process.env[name];
    if (value === undefined) throw new UsageError(`--secret-env ${name}: ${name} is not set in your environment; export it first`);
    secret[name] = value;
  }
  return secret;
}

function parseWasmValue(text: string): number | string {
  if (/^-?\d{1,20}$/.test(text)) {
    const n = Number(text);
    return Number.isSafeInteger(n) ? n : text;
  }
  const n = Number(text);
  if (text.trim() === "" || Number.isNaN(n)) throw new UsageError(`--input expects a number, got "${text}"`);
  return n;
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
