/**
 * The state directory of `propeller up`: the embedded database, the keys and the admin token, and
 * `stack.json` (where the manager listens), so a restart keeps everything and every other command
 * finds the manager and its token without flags. One place, documented in `propeller up --help`:
 * --state-dir, else PROPELLER_STATE_DIR, else $XDG_STATE_HOME/propeller, else
 * ~/.local/state/propeller.
 */
import { randomBytes } from "node:crypto";
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { clientEnv } from "./client-env.js";

export const STATE_FILES = {
  /** What `up` is serving: URLs (no credentials), pid, start time. */
  stack: "stack.json",
  /** The manager's admin API key of the current start (0600). */
  managerToken: "manager-token",
  /** The development KBS's admin private JWK (0600). */
  kbsAdminKey: "kbs-admin.key.jwk",
  /** The development KBS's master key, which wraps every resource it stores (0600). */
  kbsMasterKey: "kbs-master.key",
  /** The manager's key for task secrets at rest (0600); never in the database. */
  secretsKey: "manager-secrets.key",
  /** The embedded manager database (PGlite). */
  managerDb: "manager-db",
  /** The development KBS's database (PGlite). */
  kbsDb: "kbs-db",
  /** The pid of the `up` using the directory (one at a time: PGlite is single-process). */
  lock: "up.pid",
} as const;

/** The default state directory, from the environment (PROPELLER_STATE_DIR, XDG_STATE_HOME, HOME). */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = clientEnv(env).stateDir;
  if (explicit) return resolve(explicit);
  const xdg = env.XDG_STATE_HOME;
  // XDG says a relative value is invalid and to be ignored.
  if (xdg && xdg.startsWith("/")) return join(xdg, "propeller");
  return join(homedir(), ".local", "state", "propeller");
}

/** `--state-dir` if given, else the default. */
export function stateDirFrom(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ? resolve(flag) : defaultStateDir(env);
}

export interface StackInfo {
  managerUrl: string;
  brokerUrl: string;
  kbsUrl: string | null;
  pid: number;
  startedAt: string;
}

const MAX_STATE_FILE_BYTES = 16 * 1024;

/** A small file's text, or undefined when it does not exist; a file too large to be ours is an error. */
export function readSmallFile(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    if (size > MAX_STATE_FILE_BYTES) throw new Error(`${path} is ${size} bytes, larger than any file \`propeller up\` writes; delete it`);
    const buffer = Buffer.alloc(size);
    readSync(fd, buffer, 0, size, 0);
    return buffer.toString("utf8");
  } finally {
    closeSync(fd);
  }
}

/** What `up` wrote in `stateDir`, or undefined when nothing usable is there. */
export function readStackInfo(stateDir: string): StackInfo | undefined {
  const text = readSmallFile(join(stateDir, STATE_FILES.stack));
  if (text === undefined) return undefined;
  try {
    const info = JSON.parse(text) as Partial<StackInfo>;
    return typeof info.managerUrl === "string" && /^https?:\/\//.test(info.managerUrl) ? (info as StackInfo) : undefined;
  } catch {
    return undefined;
  }
}

/** Writes a file 0600 through a new file renamed over the old one (never readable by others, never half written). */
export async function writePrivateFile(path: string, text: string): Promise<void> {
  const temporary = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  await writeFile(temporary, text, { mode: 0o600, flag: "wx" });
  await rename(temporary, path);
}

export async function ensureStateDir(stateDir: string): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
}

export async function writeStackInfo(stateDir: string, info: StackInfo): Promise<void> {
  await writePrivateFile(join(stateDir, STATE_FILES.stack), JSON.stringify(info, null, 2) + "\n");
}

/**
 * A key file in the state directory: read when it exists, else created with fresh random bytes
 * (base64, 0600). The same key at every start, so what it protects stays readable after a restart.
 */
export async function stateKey(stateDir: string, file: string, bytes = 32): Promise<string> {
  const path = join(stateDir, file);
  const existing = readSmallFile(path)?.trim();
  if (existing) {
    if (Buffer.from(existing, "base64").length !== bytes) throw new Error(`${path} does not hold a ${bytes}-byte base64 key; restore it from a backup (what it protects is unreadable without it)`);
    return existing;
  }
  const key = randomBytes(bytes).toString("base64");
  await writePrivateFile(path, key + "\n");
  return key;
}

/** Whether a process with this pid exists (signal 0 only checks). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export class StateDirBusyError extends Error {}

/**
 * Claims the directory for this process: a second `up` on the same directory would open the same
 * embedded database twice and corrupt it. A lock left by a process that died is taken over.
 * Returns the release function.
 */
export async function lockStateDir(stateDir: string): Promise<() => Promise<void>> {
  const path = join(stateDir, STATE_FILES.lock);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(path, `${process.pid}\n`, { mode: 0o600, flag: "wx" });
      return async () => {
        if ((await readFile(path, "utf8").catch(() => "")).trim() === String(process.pid)) await rm(path, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const pid = Number((readSmallFile(path) ?? "").trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new StateDirBusyError(`another \`propeller up\` (pid ${pid}) is using ${stateDir}; stop it first, or give this one its own --state-dir (or --ephemeral)`);
      }
      await rm(path, { force: true });
    }
  }
  throw new StateDirBusyError(`cannot lock ${stateDir} (${path} keeps coming back); is another \`propeller up\` starting?`);
}

/**
 * The development KBS `propeller up` runs from this state directory, and its admin key file: what
 * `encrypt`, `kbs …` and `run --confidential` use when neither a flag nor a variable names a KBS.
 */
export function stackKbs(stateDirFlag?: string): { url: string; adminKeyFile: string } | undefined {
  const dir = stateDirFrom(stateDirFlag);
  let info: StackInfo | undefined;
  try {
    info = readStackInfo(dir);
  } catch {
    return undefined;
  }
  return info?.kbsUrl ? { url: info.kbsUrl, adminKeyFile: join(dir, STATE_FILES.kbsAdminKey) } : undefined;
}
