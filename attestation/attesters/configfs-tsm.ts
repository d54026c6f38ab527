import { randomBytes } from "node:crypto";
import { mkdir, open, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { PropellerError } from "../../protocol/errors.js";
import { messageOf } from "../../lib/errors.js";

/**
 * Linux configfs-tsm (Documentation/ABI/testing/configfs-tsm): the kernel's one interface for TEE
 * reports. A report is an item directory under `/sys/kernel/config/tsm/report`; writing `inblob`
 * (64 bytes of user data) and reading `outblob` yields the SNP attestation report or the TDX quote;
 * `auxblob` carries SNP's certificate table; `provider` names the driver (`sev_guest`, `tdx_guest`);
 * `generation` counts writes to the item, so a reader can tell that the report it read answers its
 * own input and not a concurrent writer's. Plain file I/O: no ioctls, no native code.
 */

export const DEFAULT_TSM_REPORT_ROOT = "/sys/kernel/config/tsm/report";
export const TSM_INBLOB_SIZE = 64;
/** An SNP report is 1184 bytes and a TDX quote a few KiB; 64 KiB is far above both. */
export const MAX_OUTBLOB_BYTES = 64 * 1024;
/** The GHCB gives the guest at most a few pages of certificates. */
export const MAX_AUXBLOB_BYTES = 64 * 1024;
const MAX_ATTR_BYTES = 64;
const MAX_ATTEMPTS = 3;
const DEFAULT_TIMEOUT_MS = 10_000;
const POLL_MS = 5;

export type TsmErrorCode = "tsm_unavailable" | "tsm_provider_mismatch" | "tsm_race" | "tsm_io";

export class TsmError extends PropellerError {
  declare readonly code: TsmErrorCode;
  constructor(code: TsmErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}

export interface TsmReportRequest {
  root?: string;
  /** Exactly 64 bytes: the report data bound into the report. */
  inblob: Uint8Array;
  /** SNP only: the VMPL the report is requested at (0..3). Unset: the kernel's default. */
  privlevel?: number;
  /** When set, the item's provider must be this one (checked before the report is used). */
  provider?: string;
  /** Bound on the whole call, retries included. */
  timeoutMs?: number;
}

export interface TsmReport {
  outblob: Buffer;
  /** Absent when the provider returns none (TDX) or an empty one. */
  auxblob?: Buffer;
  provider: string;
  generation: number;
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/** Reads at most `max` bytes; more than that is an error (never a silent truncation). */
async function readBounded(path: string, max: number): Promise<Buffer> {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(max + 1);
    let total = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, total, buf.byteLength - total, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > max) throw new TsmError("tsm_io", `${path} is larger than ${max} bytes`);
    }
    return buf.subarray(0, total);
  } finally {
    await fh.close();
  }
}

/**
 * Reads an attribute, waiting (until `deadline`) while it is missing or empty. The kernel produces
 * attributes synchronously, so on a real configfs the first read answers; the wait bounds what a
 * slow provider (or a stand-in for the kernel) may take, and nothing more.
 */
async function readWhenReady(path: string, max: number, deadline: number): Promise<Buffer> {
  for (;;) {
    try {
      const b = await readBounded(path, max);
      if (b.byteLength > 0) return b;
    } catch (e) {
      if (e instanceof TsmError) throw e;
      // Newer kernels answer ENXIO while no TSM driver (sev_guest, tdx_guest) is registered.
      if (errno(e) === "ENXIO") throw new TsmError("tsm_unavailable", `configfs-tsm has no provider registered (${path}): is the TEE guest driver loaded?`, undefined, { cause: e });
      if (errno(e) !== "ENOENT") throw new TsmError("tsm_io", `cannot read ${path}: ${messageOf(e)}`, undefined, { cause: e });
    }
    if (Date.now() >= deadline) throw new TsmError("tsm_io", `${path} stayed empty until the timeout`);
    await sleep(POLL_MS);
  }
}

async function readOptional(path: string, max: number): Promise<Buffer | undefined> {
  try {
    const b = await readBounded(path, max);
    return b.byteLength > 0 ? b : undefined;
  } catch (e) {
    if (e instanceof TsmError) throw e;
    if (errno(e) === "ENOENT") return undefined;
    throw new TsmError("tsm_io", `cannot read ${path}: ${messageOf(e)}`, undefined, { cause: e });
  }
}

function parseGeneration(b: Buffer, path: string): number {
  const s = b.toString("latin1").trim();
  if (!/^[0-9]{1,15}$/.test(s)) throw new TsmError("tsm_io", `${path} is not a decimal counter`);
  return Number(s);
}

function parseProvider(b: Buffer, path: string): string {
  const s = b.toString("latin1").trim();
  if (!/^[a-z0-9_-]{1,32}$/.test(s)) throw new TsmError("tsm_io", `${path} does not name a provider`);
  return s;
}

async function requireRoot(root: string): Promise<void> {
  try {
    if ((await stat(root)).isDirectory()) return;
  } catch (e) {
    if (errno(e) !== "ENOENT" && errno(e) !== "ENOTDIR") {
      throw new TsmError("tsm_io", `cannot open ${root}: ${messageOf(e)}`, { root }, { cause: e });
    }
  }
  throw new TsmError("tsm_unavailable", "configfs-tsm not available: is this a TEE guest with configfs mounted?", { root });
}

/** Creates a fresh item (unique name, like mkdtemp), so no other process shares its input. */
async function createItem(root: string): Promise<string> {
  for (let i = 0; i < 4; i++) {
    const dir = join(root, `propeller-${process.pid}-${randomBytes(8).toString("hex")}`);
    try {
      await mkdir(dir);
      return dir;
    } catch (e) {
      if (errno(e) === "EEXIST") continue;
      if (errno(e) === "ENOENT") throw new TsmError("tsm_unavailable", "configfs-tsm not available: is this a TEE guest with configfs mounted?", { root });
      throw new TsmError("tsm_io", `cannot create a report item under ${root}: ${messageOf(e)}`, { root }, { cause: e });
    }
  }
  throw new TsmError("tsm_io", `cannot find a free report item name under ${root}`, { root });
}

/**
 * Removes the item. On configfs, rmdir removes an item with its attributes; `rm` tries rmdir first,
 * and only a tree that is not configfs (a stand-in for the kernel) ever needs its files removed.
 */
async function removeItem(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 10 });
}

type Attempt = { ok: true; report: TsmReport } | { ok: false; generations: [number, number]; expected: number };

async function attempt(root: string, req: TsmReportRequest, deadline: number): Promise<Attempt> {
  const dir = await createItem(root);
  try {
    const provider = parseProvider(await readWhenReady(join(dir, "provider"), MAX_ATTR_BYTES, deadline), join(dir, "provider"));
    // Checked before any input is written: a report from another TEE must not be produced at all.
    if (req.provider !== undefined && provider !== req.provider) {
      throw new TsmError("tsm_provider_mismatch", `configfs-tsm provider is ${provider}, expected ${req.provider}`, { provider, expected: req.provider });
    }
    let writes = 0;
    try {
      if (req.privlevel !== undefined) {
        await writeFile(join(dir, "privlevel"), `${req.privlevel}\n`);
        writes++;
      }
      await writeFile(join(dir, "inblob"), req.inblob);
      writes++;
    } catch (e) {
      throw new TsmError("tsm_io", `cannot write the report request to ${dir}: ${messageOf(e)}`, undefined, { cause: e });
    }
    const genPath = join(dir, "generation");
    const outPath = join(dir, "outblob");
    // The first read makes the kernel produce (and cache) the report for the current generation.
    await readWhenReady(outPath, MAX_OUTBLOB_BYTES, deadline);
    const before = parseGeneration(await readWhenReady(genPath, MAX_ATTR_BYTES, deadline), genPath);
    const outblob = await readWhenReady(outPath, MAX_OUTBLOB_BYTES, deadline);
    const auxblob = await readOptional(join(dir, "auxblob"), MAX_AUXBLOB_BYTES);
    const after = parseGeneration(await readWhenReady(genPath, MAX_ATTR_BYTES, deadline), genPath);
    // The item is ours alone, so its generation must be exactly our writes, before and after.
    if (before !== after || before !== writes) return { ok: false, generations: [before, after], expected: writes };
    const report: TsmReport = { outblob, provider, generation: after };
    if (auxblob) report.auxblob = auxblob;
    return { ok: true, report };
  } finally {
    await removeItem(dir);
  }
}

/** Produces one report through configfs-tsm; see the module comment. */
export async function readTsmReport(req: TsmReportRequest): Promise<TsmReport> {
  const root = req.root ?? DEFAULT_TSM_REPORT_ROOT;
  if (req.inblob.byteLength !== TSM_INBLOB_SIZE) throw new RangeError(`inblob must be ${TSM_INBLOB_SIZE} bytes, got ${req.inblob.byteLength}`);
  if (req.privlevel !== undefined && (!Number.isInteger(req.privlevel) || req.privlevel < 0 || req.privlevel > 3)) {
    throw new RangeError(`privlevel ${req.privlevel} is not 0..3`);
  }
  const timeoutMs = req.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 120_000) throw new RangeError(`timeoutMs ${timeoutMs} is not 1..120000`);
  const deadline = Date.now() + timeoutMs;
  await requireRoot(root);
  const seen: Array<[number, number]> = [];
  for (let i = 0; i < MAX_ATTEMPTS; i++) {
    const r = await attempt(root, req, deadline);
    if (r.ok) return r.report;
    seen.push(r.generations);
  }
  throw new TsmError("tsm_race", `configfs-tsm report input changed while it was read, ${MAX_ATTEMPTS} times: another writer is using the item`, {
    generations: seen,
  });
}

/**
 * The provider behind configfs-tsm (`sev_guest`, `tdx_guest`, …), read from a throw-away item, or
 * null when configfs-tsm is not there. Detection is from the interface itself, never guessed.
 */
export async function probeTsmProvider(root: string = DEFAULT_TSM_REPORT_ROOT, timeoutMs = 2_000): Promise<string | null> {
  try {
    await requireRoot(root);
  } catch (e) {
    if (e instanceof TsmError && e.code === "tsm_unavailable") return null;
    throw e;
  }
  const dir = await createItem(root);
  try {
    const path = join(dir, "provider");
    return parseProvider(await readWhenReady(path, MAX_ATTR_BYTES, Date.now() + timeoutMs), path);
  } catch (e) {
    if (e instanceof TsmError && e.code === "tsm_unavailable") return null;
    throw e;
  } finally {
    await removeItem(dir);
  }
}
