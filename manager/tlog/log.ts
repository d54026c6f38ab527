/**
 * The transparency log of receipts (docs/transparency.md). Receipts are queued in the transaction
 * that stores their run (enqueue); a sequencer moves them into the Merkle tree in batches under the
 * head lock, and issues a signed checkpoint when enough entries or enough time has passed. Reads
 * (checkpoint, tiles, proofs) need no lock: stored hashes never change.
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { Database, SqlExecutor } from "../../db/index.js";
import {
  consistencyProofRanges,
  ed25519Signer,
  formatVerifierKey,
  hashRange,
  inclusionProofRanges,
  leafHash,
  mergeSignatures,
  openNote,
  parseCheckpointText,
  parseNote,
  rangeNodes,
  signCheckpoint,
  TILE_WIDTH,
  encodeEntryBundle,
  type ConsistencyBundle,
  type InclusionBundle,
  type LeafRange,
  type NoteSigner,
  type TileRef,
} from "../../protocol/tlog/index.js";
import { CoalescedPass } from "../coalesced-pass.js";
import type { ManagerEvents } from "../events.js";
import type { LogConfig } from "./config.js";
import * as store from "./store.js";
import { messageOf } from "../../lib/errors.js";
import { InvalidRequestError, NotFoundError } from "../errors.js";

/** The uint16 length prefix of entry bundles bounds an entry. */
export const MAX_LOG_ENTRY = 0xffff;
/** Runs recovered into the queue per statement at start. */
const RECOVER_BATCH = 10_000;

/** Errors the REST API maps to statuses (manager/http/errors.ts). */
function notFound(message: string): NotFoundError {
  return new NotFoundError("log_not_found", message);
}
function badRequest(message: string): InvalidRequestError {
  return new InvalidRequestError("log_bad_request", message);
}

export interface LogDeps {
  db: Database;
  log: Logger;
  config: LogConfig;
  events?: ManagerEvents;
  now?: () => Date;
  onError?: (err: unknown) => void;
}

export class TransparencyLog {
  private signer: NoteSigner | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly pass: CoalescedPass;
  private unsubscribe: () => void = () => undefined;
  private readonly now: () => Date;

  constructor(private readonly deps: LogDeps) {
    this.now = deps.now ?? (() => new Date());
    this.pass = new CoalescedPass(
      () => this.sequence(),
      (err) => {
        deps.onError?.(err);
        deps.log.error({ err: messageOf(err) }, "transparency log pass failed; will retry");
      },
    );
  }

  /** The log's public key as a verifier key string (what clients pin). */
  get verifierKey(): string {
    return formatVerifierKey(this.key());
  }

  get origin(): string {
    return this.key().name;
  }

  /** Loads or creates the key, queues any verified receipt not yet logged, and starts sequencing. */
  async start(): Promise<void> {
    const { config, db } = this.deps;
    if (config.signer) this.signer = config.signer;
    else {
      const stored = await store.loadOrCreateKey(db, config.origin, randomBytes(32));
      if (stored.origin !== config.origin) this.deps.log.warn({ stored: stored.origin, configured: config.origin }, "the log keeps the origin its key was generated with");
      this.signer = ed25519Signer(stored.origin, stored.seed);
    }
    let recovered = 0;
    for (;;) {
      const n = await store.recoverMissing(db, RECOVER_BATCH);
      recovered += n;
      if (n < RECOVER_BATCH) break;
    }
    if (recovered > 0) this.deps.log.info({ recovered }, "queued stored receipts that were not in the transparency log");
    await this.sequence(true);
    this.unsubscribe = this.deps.events?.on(["run.finished"], () => this.request()) ?? (() => undefined);
    this.timer = setInterval(() => this.request(), config.sequenceEveryMs);
    this.timer.unref();
    this.deps.log.info({ origin: this.origin, verifierKey: this.verifierKey }, "transparency log ready");
  }

  request(): void {
    this.pass.request();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.unsubscribe();
    await this.pass.close();
  }

  /**
   * Queues a verified receipt, in the caller's transaction. A receipt too large for an entry bundle
   * is not queued (reported to the caller, who logs it): it could never be served as tlog-tiles.
   */
  static async enqueue(tx: SqlExecutor, runId: string, receipt: string): Promise<boolean> {
    const entry = Buffer.from(receipt, "utf8");
    if (entry.length > MAX_LOG_ENTRY) return false;
    await store.enqueue(tx, runId, entry);
    return true;
  }

  /** One sequencing pass: append every queued receipt (in batches), then checkpoint if due. */
  async sequence(forceCheckpoint = false): Promise<boolean> {
    const { db, config } = this.deps;
    for (;;) {
      const result = await db.transaction((tx) => store.appendPending(tx, config.batchSize));
      if (result.appended < config.batchSize) break;
    }
    await this.maybeCheckpoint(forceCheckpoint);
    return false;
  }

  /** Issues a checkpoint of the current tree when one is due (under the head lock: one root per size). */
  async maybeCheckpoint(force = false): Promise<store.CheckpointRow | null> {
    const { db, config } = this.deps;
    return db.transaction(async (tx) => {
      const size = await store.lockHead(tx);
      const latest = await store.latestCheckpoint(tx);
      if (latest && latest.size === size) return null;
      if (latest && !force) {
        const waiting = size - latest.size;
        const oldest = await store.oldestUncheckpointed(tx, latest.size);
        const waitedMs = oldest ? this.now().getTime() - oldest.getTime() : 0;
        if (waiting < config.checkpointEveryEntries && waitedMs < config.checkpointEveryMs) return null;
      }
      const root = await this.rootAt(tx, size);
      const note = signCheckpoint({ origin: this.origin, size, root }, this.key());
      await store.insertCheckpoint(tx, { size, root, note });
      this.deps.log.debug({ size }, "checkpoint issued");
      return { size, root, note, issuedAt: this.now() };
    });
  }

  async latestCheckpoint(): Promise<store.CheckpointRow> {
    const cp = await store.latestCheckpoint(this.deps.db);
    if (!cp) throw notFound("the log has issued no checkpoint yet");
    return cp;
  }

  private key(): NoteSigner {
    if (!this.signer) throw new Error("the transparency log has not started");
    return this.signer;
  }

  private async rootAt(db: SqlExecutor, size: number): Promise<Buffer> {
    const found = await store.getNodes(db, rangeNodes(0, size));
    return hashRange(0, size, store.resolver(found));
  }

  private async hashesOf(db: SqlExecutor, ranges: readonly LeafRange[]): Promise<Buffer[]> {
    const found = await store.getNodes(db, ranges.flatMap((r) => rangeNodes(r.start, r.end)));
    const node = store.resolver(found);
    return ranges.map((r) => hashRange(r.start, r.end, node));
  }

  /** The checkpoint a proof is made against: the given size (must have been checkpointed) or the latest. */
  private async checkpointFor(size: number | undefined): Promise<store.CheckpointRow> {
    if (size === undefined) return this.latestCheckpoint();
    const cp = await store.checkpointAt(this.deps.db, size);
    if (!cp) throw notFound(`the log issued no checkpoint of size ${size}`);
    return cp;
  }

  async inclusionBundle(runId: string, treeSize?: number): Promise<InclusionBundle> {
    const entry = await store.entryOfRun(this.deps.db, runId);
    if (!entry) throw notFound(`run ${runId} has no receipt in the log (yet)`);
    const cp = await this.checkpointFor(treeSize);
    if (entry.index >= cp.size) throw notFound(`run ${runId} is entry ${entry.index}, not yet in a checkpoint (latest size ${cp.size}); retry shortly`);
    const proof = await this.hashesOf(this.deps.db, inclusionProofRanges(entry.index, cp.size));
    return {
      leafIdx: entry.index,
      treeSize: cp.size,
      root: cp.root.toString("base64"),
      leafHash: leafHash(entry.entry).toString("base64"),
      proof: proof.map((h) => h.toString("base64")),
      checkpoint: cp.note,
      entry: entry.entry.toString("base64"),
      runId,
    };
  }

  async consistencyBundle(size1: number, size2?: number): Promise<ConsistencyBundle> {
    const cp2 = await this.checkpointFor(size2);
    if (size1 > cp2.size) throw badRequest(`size1 ${size1} is larger than size2 ${cp2.size}`);
    const cp1 = await store.checkpointAt(this.deps.db, size1);
    const root1 = cp1?.root ?? (await this.rootAt(this.deps.db, size1));
    const proof = await this.hashesOf(this.deps.db, consistencyProofRanges(size1, cp2.size));
    return {
      size1,
      size2: cp2.size,
      root1: root1.toString("base64"),
      root2: cp2.root.toString("base64"),
      proof: proof.map((h) => h.toString("base64")),
      ...(cp1 ? { checkpoint1: cp1.note } : {}),
      checkpoint2: cp2.note,
    };
  }

  /**
   * A C2SP tile (hashes at level 8·L) or entry bundle. Only what a checkpoint covers is served, so
   * a client never sees a partial tile that no signed tree head accounts for.
   */
  async tile(ref: TileRef): Promise<Buffer> {
    const cp = await this.latestCheckpoint();
    const level = ref.level === "entries" ? 0 : ref.level;
    const span = TILE_WIDTH ** level; // leaves per hash of this tile
    const first = ref.index * TILE_WIDTH;
    const endLeaf = (first + ref.width) * span;
    if (!Number.isSafeInteger(endLeaf) || endLeaf > cp.size) throw notFound(`tile ${ref.level}/${ref.index} of width ${ref.width} is beyond the latest checkpoint (size ${cp.size})`);
    if (ref.level === "entries") {
      const entries = await store.entriesIn(this.deps.db, first, first + ref.width);
      if (entries.length !== ref.width) throw new Error("tlog entries are missing from the store");
      return encodeEntryBundle(entries);
    }
    const hashes = await store.levelHashes(this.deps.db, level * 8, first, first + ref.width);
    if (hashes.length !== ref.width) throw new Error("tlog tile hashes are missing from the store");
    return Buffer.concat(hashes);
  }

  /**
   * Accepts witness cosignatures on a checkpoint the log issued: each signature line of a
   * configured witness is verified over the stored checkpoint text and kept in the served note.
   * Returns the names of the witnesses added.
   */
  async addCosignatures(note: string): Promise<string[]> {
    const { config, db } = this.deps;
    if (config.witnesses.length === 0) throw badRequest("this log has no witnesses configured (log.witnesses)");
    // Whatever a caller sends is checked here: a malformed note is the caller's error (400), not ours.
    const { parsed, cp, verified } = (() => {
      try {
        const parsed = parseNote(note);
        return { parsed, cp: parseCheckpointText(parsed.text), verified: openNote(note, config.witnesses).verifiedBy };
      } catch (err) {
        throw badRequest(messageOf(err));
      }
    })();
    return db.transaction(async (tx) => {
      const stored = await store.checkpointAt(tx, cp.size, { forUpdate: true });
      if (!stored) throw notFound(`the log issued no checkpoint of size ${cp.size}`);
      const storedParsed = parseNote(stored.note);
      if (storedParsed.text !== parsed.text) throw badRequest(`the cosigned checkpoint of size ${cp.size} is not the one this log issued`);
      const sigs = parsed.signatures.filter((s) => verified.some((v) => v.name === s.name && v.keyId === s.keyId));
      await store.updateCheckpointNote(tx, cp.size, mergeSignatures(stored.note, sigs));
      return verified.map((v) => v.name);
    });
  }
}
