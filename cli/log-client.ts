/**
 * Reads a transparency log over HTTP (C2SP tlog-tiles plus the manager's proof routes), every
 * response bounded in size and time. The caller verifies everything it gets: nothing here is trusted.
 */
import { readFile, stat } from "node:fs/promises";
import { readBounded, BoundedReadError } from "../lib/bounded-read.js";
import { decodeEntryBundle, encodeTileIndex, parseProofBundle, parseVerifierKey, TILE_WIDTH, type NoteVerifier, type ProofBundle } from "../protocol/tlog/index.js";
import { RemoteError, UsageError } from "./errors.js";
import { messageOf } from "../lib/errors.js";

const MAX_NOTE_BYTES = 64 * 1024;
/** A full entry bundle: 256 entries of at most 64 KiB each, plus length prefixes. */
const MAX_BUNDLE_BYTES = TILE_WIDTH * (0xffff + 2);
const MAX_JSON_BYTES = 256 * 1024;
const TIMEOUT_MS = 15_000;

export class LogClient {
  /** `prefix`: the log's URL prefix, e.g. http://127.0.0.1:7070/log */
  constructor(
    readonly prefix: string,
    private readonly token?: string,
  ) {
    if (!/^https?:\/\/[^\s]+$/.test(prefix)) throw new UsageError(`--log takes the log's URL prefix (http(s)://…/log) or a checkpoint file, got "${prefix}"`);
    this.prefix = prefix.replace(/\/+$/, "");
  }

  private async get(path: string, maxBytes: number, init: RequestInit = {}): Promise<Buffer> {
    let res: Response;
    try {
      res = await fetch(`${this.prefix}/${path}`, {
        ...init,
        headers: { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...(init.headers as Record<string, string> | undefined) },
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (err) {
      throw new RemoteError("log_unreachable", `cannot reach the log at ${this.prefix}: ${messageOf(err)}`, undefined);
    }
    let body: Buffer;
    try {
      body = Buffer.from(await readBounded(res.body, { maxBytes, idleTimeoutMs: TIMEOUT_MS }));
    } catch (err) {
      if (err instanceof BoundedReadError) throw new RemoteError("log_bad_reply", `${path}: ${err.message}`, res.status);
      throw err;
    }
    if (!res.ok) {
      let detail = body.toString("utf8").slice(0, 300);
      try {
        detail = (JSON.parse(detail) as { message?: string }).message ?? detail;
      } catch {
        /* not JSON: the text as is */
      }
      throw new RemoteError("log_error", `${path}: HTTP ${res.status}: ${detail}`, res.status);
    }
    return body;
  }

  async checkpoint(): Promise<string> {
    return (await this.get("checkpoint", MAX_NOTE_BYTES)).toString("utf8");
  }

  async inclusion(runId: string, treeSize?: number): Promise<ProofBundle> {
    const q = new URLSearchParams({ runId, ...(treeSize !== undefined ? { treeSize: String(treeSize) } : {}) });
    return parseProofBundle(JSON.parse((await this.get(`proof/inclusion?${q}`, MAX_JSON_BYTES)).toString("utf8")));
  }

  async consistency(size1: number, size2: number): Promise<ProofBundle> {
    return parseProofBundle(JSON.parse((await this.get(`proof/consistency?size1=${size1}&size2=${size2}`, MAX_JSON_BYTES)).toString("utf8")));
  }

  /** Entries [start, end) from entry bundles (end must not pass a checkpointed size). */
  async entries(start: number, end: number): Promise<Buffer[]> {
    const out: Buffer[] = [];
    for (let n = Math.floor(start / TILE_WIDTH); n * TILE_WIDTH < end; n++) {
      const width = Math.min(TILE_WIDTH, end - n * TILE_WIDTH);
      const path = `tile/entries/${encodeTileIndex(n)}${width < TILE_WIDTH ? `.p/${width}` : ""}`;
      const bundle = decodeEntryBundle(await this.get(path, MAX_BUNDLE_BYTES), width);
      if (bundle.length !== width) throw new RemoteError("log_bad_reply", `${path} holds ${bundle.length} entries, not ${width}`, 200);
      const from = Math.max(start, n * TILE_WIDTH) - n * TILE_WIDTH;
      out.push(...bundle.slice(from));
    }
    return out;
  }

  async postCosignature(note: string): Promise<string[]> {
    const body = await this.get("cosignature", MAX_JSON_BYTES, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ checkpoint: note }) });
    return (JSON.parse(body.toString("utf8")) as { accepted: string[] }).accepted;
  }
}

/** A verifier key given inline (`name+id+key`) or as a file holding one. */
export async function loadVerifierKey(flag: string, value: string | undefined): Promise<NoteVerifier> {
  if (!value) throw new UsageError(`${flag} is required: the log's verifier key (name+id+key, from GET /log/key) or a file holding it`);
  const text = /^[^\s+]+\+[0-9a-f]{8}\+/.test(value) ? value : await readSmall(flag, value);
  try {
    return parseVerifierKey(text.trim());
  } catch (err) {
    throw new UsageError(`${flag}: ${messageOf(err)}`);
  }
}

/** A small file (a checkpoint, a proof bundle, a key, a state file), bounded. */
export async function readSmall(what: string, file: string, maxBytes = MAX_JSON_BYTES): Promise<string> {
  const size = await stat(file).then((s) => s.size, () => {
    throw new UsageError(`${what}: cannot read ${file}`);
  });
  if (size > maxBytes) throw new UsageError(`${what}: ${file} is ${size} bytes; at most ${maxBytes}`);
  return readFile(file, "utf8");
}

export function isUrl(s: string): boolean {
  return /^https?:\/\//.test(s);
}
