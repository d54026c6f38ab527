/**
 * The log's SQL (migrations/manager/0009_tlog.sql). Appends happen under a row lock on tlog_head,
 * so several managers on one database extend one tree: whoever holds the lock reads the size, adds
 * leaves and the complete-subtree hashes they finish, and moves the size on, all in one transaction.
 */
import type { SqlExecutor } from "../../db/index.js";
import { leafHash, nodeHash, rangeNodes, type SubtreeNode } from "../../protocol/tlog/index.js";

const buf = (v: unknown): Buffer => Buffer.from(v as Uint8Array);

/** Queues a verified receipt for the log, in the caller's transaction (the one storing the run). */
export async function enqueue(tx: SqlExecutor, runId: string, entry: Buffer): Promise<void> {
  await tx.query("INSERT INTO tlog_pending (run_id, entry) VALUES ($1, $2) ON CONFLICT (run_id) DO NOTHING", [runId, entry]);
}

/**
 * Queues every stored run whose receipt passed the manager's check and that is neither logged nor
 * queued (runs stored before the log existed, or by a manager without it). One statement: its
 * snapshot sees a run either still queued or already logged, never neither.
 */
export async function recoverMissing(db: SqlExecutor, limit: number): Promise<number> {
  const { rowCount } = await db.query(
    `INSERT INTO tlog_pending (run_id, entry)
     SELECT r.id, convert_to(r.receipt, 'UTF8') FROM runs r
      WHERE r.receipt IS NOT NULL AND (r.receipt_check->>'ok')::boolean IS TRUE
        AND NOT EXISTS (SELECT 1 FROM tlog_entries e WHERE e.run_id = r.id)
        AND NOT EXISTS (SELECT 1 FROM tlog_pending p WHERE p.run_id = r.id)
      ORDER BY r.finished_at NULLS LAST, r.id
      LIMIT $1
     ON CONFLICT (run_id) DO NOTHING`,
    [limit],
  );
  return rowCount;
}

export async function lockHead(tx: SqlExecutor): Promise<number> {
  const { rows } = await tx.query<{ size: unknown }>("SELECT size FROM tlog_head WHERE id = 1 FOR UPDATE");
  if (!rows[0]) throw new Error("tlog_head has no row: the log's migration did not run");
  return Number(rows[0].size);
}

export async function headSize(db: SqlExecutor): Promise<number> {
  const { rows } = await db.query<{ size: unknown }>("SELECT size FROM tlog_head WHERE id = 1");
  return Number(rows[0]?.size ?? 0);
}

/** Complete-subtree hashes by (level, index); throws when one is missing (a broken store). */
export async function getNodes(db: SqlExecutor, nodes: readonly SubtreeNode[]): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  if (nodes.length === 0) return out;
  const { rows } = await db.query<{ level: unknown; idx: unknown; hash: unknown }>(
    "SELECT n.level, n.idx, n.hash FROM tlog_nodes n JOIN unnest($1::int[], $2::bigint[]) AS q(level, idx) ON n.level = q.level AND n.idx = q.idx",
    [nodes.map((n) => n.level), nodes.map((n) => String(n.index))],
  );
  for (const r of rows) out.set(`${Number(r.level)}/${Number(r.idx)}`, buf(r.hash));
  for (const n of nodes) if (!out.has(`${n.level}/${n.index}`)) throw new Error(`tlog node ${n.level}/${n.index} is missing from the store`);
  return out;
}

/** A resolver for hashRange over what getNodes returned. */
export function resolver(found: Map<string, Buffer>): (level: number, index: number) => Buffer {
  return (level, index) => {
    const h = found.get(`${level}/${index}`);
    if (!h) throw new Error(`tlog node ${level}/${index} was not loaded`);
    return h;
  };
}

export interface AppendResult {
  /** Entries added by this call. */
  appended: number;
  size: number;
  /** Index of each appended run. */
  indexes: Map<string, number>;
}

/**
 * Moves up to `limit` queued receipts into the tree, in queue order, in one transaction under the
 * head lock. The new leaves and every subtree they complete are stored; nothing is recomputed later.
 */
export async function appendPending(tx: SqlExecutor, limit: number): Promise<AppendResult> {
  const size = await lockHead(tx);
  const { rows } = await tx.query<{ seq: unknown; run_id: string; entry: unknown }>("SELECT seq, run_id, entry FROM tlog_pending ORDER BY seq LIMIT $1", [limit]);
  if (rows.length === 0) return { appended: 0, size, indexes: new Map() };

  // A run already logged (a queue row that outlived its append) is dropped, never logged twice.
  const { rows: known } = await tx.query<{ run_id: string }>("SELECT run_id FROM tlog_entries WHERE run_id = ANY($1::text[])", [rows.map((r) => r.run_id)]);
  const logged = new Set(known.map((k) => k.run_id));
  const fresh = rows.filter((r) => !logged.has(r.run_id));

  // The right edge of the current tree: the left siblings every new leaf may need.
  const edgeNodes = rangeNodes(0, size);
  const found = await getNodes(tx, edgeNodes);
  const stack: Array<{ level: number; index: number; hash: Buffer }> = edgeNodes.map((n) => ({ ...n, hash: found.get(`${n.level}/${n.index}`)! }));

  const newNodes: Array<{ level: number; index: number; hash: Buffer }> = [];
  const indexes = new Map<string, number>();
  let n = size;
  for (const row of fresh) {
    const entry = buf(row.entry);
    let node = { level: 0, index: n, hash: leafHash(entry) };
    newNodes.push(node);
    // Merge while the top of the edge is this node's left sibling (same level, index one less).
    while (node.index % 2 === 1 && stack.length > 0 && stack[stack.length - 1]!.level === node.level && stack[stack.length - 1]!.index === node.index - 1) {
      const left = stack.pop()!;
      node = { level: node.level + 1, index: left.index / 2, hash: nodeHash(left.hash, node.hash) };
      newNodes.push(node);
    }
    stack.push(node);
    indexes.set(row.run_id, n);
    n++;
  }

  if (fresh.length > 0) {
    await tx.query(
      "INSERT INTO tlog_entries (idx, run_id, entry) SELECT q.idx, q.run_id, decode(q.entry, 'hex') FROM unnest($1::bigint[], $2::text[], $3::text[]) AS q(idx, run_id, entry)",
      [fresh.map((r) => String(indexes.get(r.run_id))), fresh.map((r) => r.run_id), fresh.map((r) => buf(r.entry).toString("hex"))],
    );
    await tx.query(
      "INSERT INTO tlog_nodes (level, idx, hash) SELECT q.level, q.idx, decode(q.hash, 'hex') FROM unnest($1::int[], $2::bigint[], $3::text[]) AS q(level, idx, hash)",
      [newNodes.map((x) => x.level), newNodes.map((x) => String(x.index)), newNodes.map((x) => x.hash.toString("hex"))],
    );
  }
  await tx.query("DELETE FROM tlog_pending WHERE seq = ANY($1::bigint[])", [rows.map((r) => String(r.seq))]);
  await tx.query("UPDATE tlog_head SET size = $1 WHERE id = 1", [n]);
  return { appended: fresh.length, size: n, indexes };
}

export interface CheckpointRow {
  size: number;
  root: Buffer;
  note: string;
  issuedAt: Date;
}

function checkpointFromRow(r: { size: unknown; root: unknown; note: string; issued_at: unknown }): CheckpointRow {
  return { size: Number(r.size), root: buf(r.root), note: r.note, issuedAt: new Date(r.issued_at as string) };
}

export async function latestCheckpoint(db: SqlExecutor): Promise<CheckpointRow | null> {
  const { rows } = await db.query<{ size: unknown; root: unknown; note: string; issued_at: unknown }>("SELECT size, root, note, issued_at FROM tlog_checkpoints ORDER BY size DESC LIMIT 1");
  return rows[0] ? checkpointFromRow(rows[0]) : null;
}

export async function checkpointAt(db: SqlExecutor, size: number, options: { forUpdate?: boolean } = {}): Promise<CheckpointRow | null> {
  const { rows } = await db.query<{ size: unknown; root: unknown; note: string; issued_at: unknown }>(
    `SELECT size, root, note, issued_at FROM tlog_checkpoints WHERE size = $1${options.forUpdate ? " FOR UPDATE" : ""}`,
    [size],
  );
  return rows[0] ? checkpointFromRow(rows[0]) : null;
}

/** Records a checkpoint; false when one of that size exists (the primary key keeps one root per size). */
export async function insertCheckpoint(tx: SqlExecutor, cp: { size: number; root: Buffer; note: string }): Promise<boolean> {
  const { rowCount } = await tx.query("INSERT INTO tlog_checkpoints (size, root, note) VALUES ($1, $2, $3) ON CONFLICT (size) DO NOTHING", [cp.size, cp.root, cp.note]);
  return rowCount > 0;
}

export async function updateCheckpointNote(tx: SqlExecutor, size: number, note: string): Promise<void> {
  await tx.query("UPDATE tlog_checkpoints SET note = $2 WHERE size = $1", [size, note]);
}

/** The oldest moment an entry beyond `size` was appended (when the next checkpoint is due). */
export async function oldestUncheckpointed(db: SqlExecutor, size: number): Promise<Date | null> {
  const { rows } = await db.query<{ t: unknown }>("SELECT min(appended_at) AS t FROM tlog_entries WHERE idx >= $1", [size]);
  return rows[0]?.t ? new Date(rows[0].t as string) : null;
}

export async function entryOfRun(db: SqlExecutor, runId: string): Promise<{ index: number; entry: Buffer } | null> {
  const { rows } = await db.query<{ idx: unknown; entry: unknown }>("SELECT idx, entry FROM tlog_entries WHERE run_id = $1", [runId]);
  return rows[0] ? { index: Number(rows[0].idx), entry: buf(rows[0].entry) } : null;
}

export async function entriesIn(db: SqlExecutor, start: number, end: number): Promise<Buffer[]> {
  const { rows } = await db.query<{ entry: unknown }>("SELECT entry FROM tlog_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx", [start, end]);
  return rows.map((r) => buf(r.entry));
}

/** Hashes of one tree level, indexes [start, end). */
export async function levelHashes(db: SqlExecutor, level: number, start: number, end: number): Promise<Buffer[]> {
  const { rows } = await db.query<{ hash: unknown }>("SELECT hash FROM tlog_nodes WHERE level = $1 AND idx >= $2 AND idx < $3 ORDER BY idx", [level, start, end]);
  return rows.map((r) => buf(r.hash));
}

export async function pendingCount(db: SqlExecutor): Promise<number> {
  const { rows } = await db.query<{ n: unknown }>("SELECT count(*) AS n FROM tlog_pending");
  return Number(rows[0]?.n ?? 0);
}

/** The stored key (generated by the first manager to get here; the others read it). */
export async function loadOrCreateKey(db: SqlExecutor, origin: string, seed: Buffer): Promise<{ origin: string; seed: Buffer }> {
  await db.query("INSERT INTO tlog_key (id, origin, seed) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING", [origin, seed]);
  const { rows } = await db.query<{ origin: string; seed: unknown }>("SELECT origin, seed FROM tlog_key WHERE id = 1");
  return { origin: rows[0]!.origin, seed: buf(rows[0]!.seed) };
}

/** Log indexes of the given runs' receipts (runs not in the log yet are absent). */
export async function logIndexesOf(db: SqlExecutor, runIds: readonly string[]): Promise<Map<string, number>> {
  if (runIds.length === 0) return new Map();
  const { rows } = await db.query<{ run_id: string; idx: number | string }>("SELECT run_id, idx FROM tlog_entries WHERE run_id = ANY($1::text[])", [runIds]);
  return new Map(rows.map((r) => [r.run_id, Number(r.idx)]));
}
