import { readFile } from "node:fs/promises";
import { RUNTIMES, isDigest, sha256Digest } from "../protocol/index.js";
import { parseEnvPairs, parsePositiveInt } from "./args.js";
import { UsageError } from "./errors.js";
import { messageOf } from "../lib/errors.js";

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
  runtime: { type: "string" },
  wave: { type: "string" },
  "grant-dir": { type: "string", multiple: true },
  "grant-host": { type: "string", multiple: true },
  oci: { type: "string" },
  delivery: { type: "string" },
  priority: { type: "string" },
  retry: { type: "string" },
  "retry-backoff": { type: "string" },
  cron: { type: "string" },
  tz: { type: "string" },
  missed: { type: "string" },
  broadcast: { type: "boolean" },
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
  runtime?: string;
  wave?: string;
  "grant-dir"?: string[];
  "grant-host"?: string[];
  oci?: string;
  delivery?: string;
  priority?: string;
  retry?: string;
  "retry-backoff"?: string;
  cron?: string;
  tz?: string;
  missed?: string;
  broadcast?: boolean;
  /** `run --confidential`: an age file is then the expected input. */
  confidential?: boolean;
}

/** A task body, and the bytes to `PUT /artifacts/{digest}` before creating it (`--delivery mqtt`). */
export interface PreparedTask {
  body: Record<string, unknown>;
  upload: { digest: string; bytes: Buffer } | null;
}

/**
 * Like buildTaskBody, but a `--delivery mqtt` file is not inlined: its bytes are returned to be
 * uploaded first (up to the manager's 64 MiB, where inline stops at 4 MiB).
 */
export async function prepareTask(wasmPath: string | undefined, flags: TaskFlagValues, extraArgs: string[] = []): Promise<PreparedTask> {
  const body = await buildTaskBody(wasmPath, flags, extraArgs);
  const artifact = body.artifact as { digest: string; inline?: string; delivery?: string };
  if (artifact.delivery !== "mqtt" || artifact.inline === undefined) return { body, upload: null };
  const bytes = Buffer.from(artifact.inline, "base64");
  return { body: { ...body, artifact: { digest: artifact.digest, delivery: "mqtt" } }, upload: { digest: artifact.digest, bytes } };
}

/** Builds the manager's TaskCreate body from a Wasm file (or URL + digest) and flags. */
export async function buildTaskBody(wasmPath: string | undefined, flags: TaskFlagValues, extraArgs: string[] = []): Promise<Record<string, unknown>> {
  let artifact: Record<string, unknown>;
  let defaultName: string;
  if (flags.delivery !== undefined && flags.delivery !== "mqtt") throw new UsageError(`--delivery is mqtt (the bytes go to the proplet over MQTT in chunks), got "${flags.delivery}"`);
  if (flags.delivery && (flags.url || flags.oci)) throw new UsageError("--delivery mqtt takes a local Wasm file (it is uploaded to the manager first), not --url or --oci");
  if (flags.digest !== undefined && !isDigest(flags.digest)) throw new UsageError(`--digest is sha256:<64 hex digits>, got "${flags.digest}"`);
  if (flags.oci !== undefined) {
    if (flags.url) throw new UsageError("give one artifact: --oci REF or --url URL, not both");
    if (wasmPath) throw new UsageError("give one artifact: a Wasm file or --oci REF, not both");
    if (!/^[^\s/]+\/[^\s]+$/.test(flags.oci) || flags.oci.length > 1024) throw new UsageError(`--oci takes registry[:port]/repo:tag or registry[:port]/repo@sha256:…, got "${flags.oci}"`);
    artifact = flags.digest ? { oci: flags.oci, digest: flags.digest } : { oci: flags.oci };
    defaultName = flags.oci.split("/").pop()!.split(/[@:]/)[0] || "task";
  } else if (flags.url) {
    if (!flags.digest) throw new UsageError("--url needs --digest sha256:<hex> (the proplet checks it before running anything)");
    if (wasmPath) throw new UsageError("give either a Wasm file or --url, not both");
    artifact = { digest: flags.digest, url: flags.url };
    defaultName = flags.url.split("/").pop() ?? "task";
  } else {
    if (!wasmPath) throw new UsageError("missing the Wasm file (or --url URL --digest sha256:…, or --oci REF)");
    const bytes = await readWasmFile(wasmPath, flags.confidential === true);
    const digest = sha256Digest(bytes);
    if (flags.digest && flags.digest !== digest) {
      throw new UsageError(`${wasmPath} has digest ${digest}, not the --digest given (${flags.digest})`);
    }
    artifact = { digest, inline: bytes.toString("base64"), ...(flags.delivery ? { delivery: "mqtt" } : {}) };
    defaultName = wasmPath.split("/").pop() ?? "task";
  }

  const body: Record<string, unknown> = {
    name: flags.name ?? defaultName,
    artifact,
    args: [...(flags.arg ?? []), ...extraArgs],
    env: parseEnvPairs(flags.env),
  };
  if (flags["secret-env"]?.length) body.secretEnv = secretEnvFromProcess(flags["secret-env"]);
  Object.assign(body, runtimeAndEntrypoint(flags));
  if (flags["grant-dir"]?.length || flags["grant-host"]?.length) body.grants = parseGrants(flags["grant-dir"] ?? [], flags["grant-host"] ?? []);
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
  Object.assign(body, schedulingFields(flags));
  return body;
}

/**
 * `--runtime`, `--export`, `--input` (core module exports: numbers) and `--wave` (component exports:
 * WAVE text). `--wave` implies the component runtime; each goes only with its own runtime.
 */
function runtimeAndEntrypoint(flags: TaskFlagValues): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let runtime = flags.runtime;
  if (runtime !== undefined) {
    if (!(RUNTIMES as readonly string[]).includes(runtime)) throw new UsageError(`--runtime is one of ${RUNTIMES.join(", ")}, got "${runtime}"`);
    out.runtime = runtime;
  }
  const hasInputs = (flags.input?.length ?? 0) > 0;
  if (flags.wave !== undefined && hasInputs) throw new UsageError("--wave (a component export's WAVE arguments) and --input (a core module export's numbers) do not go together");
  if (flags.wave !== undefined && !flags.export) throw new UsageError("--wave gives the arguments of a component export: add --export NAME");
  if (hasInputs && !flags.export) throw new UsageError("--input only goes with --export NAME");
  if (flags.wave !== undefined && Buffer.byteLength(flags.wave) > 64 * 1024) throw new UsageError("--wave text is at most 64 KiB");
  if (flags.wave !== undefined && runtime === undefined) {
    runtime = "component";
    out.runtime = runtime;
  }
  if (flags.export) {
    if (runtime === "wasi-http") throw new UsageError("--export does not go with --runtime wasi-http (a daemon serves HTTP; it has no export to call)");
    if (runtime === "component") {
      if (hasInputs) throw new UsageError("--input is for a core module's export (wasi-p1); a component export takes --wave 'ARGS', e.g. --wave '40, 2'");
      out.entrypoint = { kind: "export", name: flags.export, args: flags.wave ?? "" };
    } else {
      if (flags.wave !== undefined) throw new UsageError("--wave is for a component export: it needs --runtime component");
      out.entrypoint = { kind: "export", name: flags.export, inputs: (flags.input ?? []).map(parseWasmValue) };
    }
  }
  return out;
}

const GUEST_PATH = /^\/(?:[A-Za-z0-9_][A-Za-z0-9._-]*(?:\/[A-Za-z0-9_][A-Za-z0-9._-]*)*)?$/;
const VOLUME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const HOST_PORT = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*:([0-9]{1,5})$/;

/** `--grant-dir GUEST[:ro][:volume=NAME]` and `--grant-host HOST:PORT` into the task's `grants`. */
export function parseGrants(dirSpecs: string[], hostSpecs: string[]): Record<string, unknown> {
  if (dirSpecs.length > 8) throw new UsageError("at most 8 --grant-dir");
  if (hostSpecs.length > 32) throw new UsageError("at most 32 --grant-host");
  const dirs = dirSpecs.map((spec) => {
    const [guest, ...options] = spec.split(":");
    if (!guest || !GUEST_PATH.test(guest) || guest.length > 256) {
      throw new UsageError(`--grant-dir ${spec}: the guest path must be absolute, without . or .. (e.g. /data, or /data:ro:volume=cache)`);
    }
    const dir: { guest: string; readonly?: boolean; volume?: string } = { guest };
    for (const option of options) {
      if (option === "ro" && dir.readonly === undefined) dir.readonly = true;
      else if (option.startsWith("volume=") && dir.volume === undefined) {
        const volume = option.slice("volume=".length);
        if (!VOLUME.test(volume)) throw new UsageError(`--grant-dir ${spec}: a volume name is lower-case letters, digits, _ and - (at most 63), got "${volume}"`);
        dir.volume = volume;
      } else throw new UsageError(`--grant-dir ${spec}: unknown or repeated option "${option}" (GUEST[:ro][:volume=NAME])`);
    }
    return dir;
  });
  const guests = new Set(dirs.map((d) => d.guest));
  if (guests.size !== dirs.length) throw new UsageError("--grant-dir: the same guest path is granted twice");
  for (const host of hostSpecs) {
    const match = HOST_PORT.exec(host);
    const port = match ? Number(match[1]) : 0;
    if (!match || port < 1 || port > 65535 || host.length > 260) throw new UsageError(`--grant-host takes HOST:PORT (a name or IPv4 address and a port 1..65535), got "${host}"`);
  }
  if (new Set(hostSpecs.map((h) => h.toLowerCase())).size !== hostSpecs.length) throw new UsageError("--grant-host: the same host:port is granted twice");
  const grants: Record<string, unknown> = {};
  if (dirs.length) grants.dirs = dirs;
  if (hostSpecs.length) grants.hosts = hostSpecs;
  return grants;
}

function wholeNumber(flag: string, value: string, min: number, max: number): number {
  const n = /^\d{1,10}$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${flag} expects a whole number ${min}..${max}, got "${value}"`);
  return n;
}

/** `--priority`, `--retry [--retry-backoff]`, `--cron [--tz] [--missed]`, `--broadcast`. */
function schedulingFields(flags: TaskFlagValues): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (flags.priority !== undefined) out.priority = wholeNumber("--priority", flags.priority, 0, 100);
  if (flags["retry-backoff"] !== undefined && flags.retry === undefined) throw new UsageError("--retry-backoff goes with --retry N");
  if (flags.retry !== undefined) {
    const retries = wholeNumber("--retry", flags.retry, 0, 19);
    const retry: Record<string, number> = { maxAttempts: retries + 1 };
    if (flags["retry-backoff"] !== undefined) retry.backoffMs = wholeNumber("--retry-backoff", flags["retry-backoff"], 0, 3_600_000);
    out.retry = retry;
  }
  if ((flags.tz !== undefined || flags.missed !== undefined) && flags.cron === undefined) throw new UsageError("--tz and --missed go with --cron 'EXPR'");
  if (flags.cron !== undefined) {
    const fields = flags.cron.trim().split(/\s+/).length;
    if (fields !== 5 && fields !== 6) throw new UsageError(`--cron takes 5 fields (minute hour day month weekday), or 6 with seconds first; got ${fields} in "${flags.cron}"`);
    const schedule: Record<string, string> = { cron: flags.cron.trim() };
    if (flags.tz !== undefined) {
      if (!validTimeZone(flags.tz)) throw new UsageError(`--tz takes an IANA time zone such as Europe/Paris or UTC, got "${flags.tz}"`);
      schedule.timeZone = flags.tz;
    }
    if (flags.missed !== undefined) {
      if (flags.missed !== "run-once" && flags.missed !== "skip") throw new UsageError(`--missed is run-once or skip, got "${flags.missed}"`);
      schedule.missed = flags.missed;
    }
    out.schedule = schedule;
  }
  if (flags.broadcast) {
    if (flags.target) throw new UsageError("--broadcast runs on every matching proplet: it does not go with --target");
    if (flags.retry !== undefined) throw new UsageError("--broadcast does not go with --retry");
    out.broadcast = true;
  }
  return out;
}

function validTimeZone(zone: string): boolean {
  if (zone.length > 64) return false;
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
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

const WASM_MAGIC = "\0asm";
const AGE_MAGIC = "age-encryption.org/v1";

/**
 * The workload file, read and recognised before anything is sent: a path that is not there, a
 * directory, or a file that is not WebAssembly (nor, with --confidential, an age file) is the
 * user's mistake, said here with what to give instead rather than as a failed run later.
 */
export async function readWasmFile(path: string, confidential = false): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : code === "EACCES" ? "permission denied" : (code ?? messageOf(err));
    throw new UsageError(`cannot read ${path}: ${why}; give the path of a compiled .wasm file (for example examples/hello/hello.wasm)`);
  }
  const head = bytes.subarray(0, AGE_MAGIC.length).toString("latin1");
  if (head.startsWith(WASM_MAGIC)) return bytes;
  if (head === AGE_MAGIC) {
    if (confidential) return bytes;
    throw new UsageError(`${path} is an age-encrypted workload: run it with --confidential --kbs URL --tee T --resource kbs:///… --plaintext-digest sha256:… (as \`propeller encrypt\` printed them)`);
  }
  const text = bytes.length > 0 && [...bytes.subarray(0, 64)].every((b) => b === 9 || b === 10 || b === 13 || (b >= 32 && b < 127));
  throw new UsageError(
    `${path} is not a WebAssembly module (it does not start with \\0asm${text ? "; it looks like text — a .wat file must be compiled first, e.g. with wat2wasm" : ""}); give a .wasm file built for wasm32-wasi (e.g. examples/hello/hello.wasm)`,
  );
}

/** `--input` values: integers (as decimal strings past 2^53, as the API takes them) or floats. */
export function parseWasmValue(text: string): number | string {
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
