/**
 * Transparency log benchmark (docs/transparency.md, "Costs").
 *   1. appends per second, batched: the manager's sequencer (manager/tlog/) draining N queued
 *      receipts on the database, against the floor of inserting the same N entries into a plain
 *      table in the same batches (what any store of receipts pays anyway); and the Merkle core in
 *      memory (leaf hash + right-edge merges), against SHA-256 of the same entries alone;
 *   2. proof sizes against log2(n): inclusion and consistency proofs, sampled, hash counts and
 *      bundle bytes; proof serving time from the database;
 *   3. the latency an append adds to a run's completion: the completion transaction (the run's
 *      UPDATE) with and without queueing its receipt in the same transaction, p50/p99; and one
 *      sequencer pass for a single receipt (append + checkpoint signature), p50/p99.
 *
 *   npm run bench -- tlog [--db-sizes 10000,1000000] [--mem-sizes 10000,1000000] [--pglite]
 * The database figures are on a fresh PostgreSQL database (or PGlite in memory with --pglite), at
 * the --db-sizes: 10^6 entries on the database is ~3 GB of rows and WAL (the queue, the entries,
 * the complete-subtree hashes and the floor's plain table) and ~15 minutes on a 2-core machine;
 * `--db-sizes 10000` for a quick run. The database is dropped at the end.
 */
import { createHash, randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import pino from "pino";
import type { Database } from "../db/index.js";
import { openManagerDatabase } from "../manager/store/open.js";
import { resolveLogConfig } from "../manager/tlog/config.js";
import { TransparencyLog } from "../manager/tlog/log.js";
import { appendPending } from "../manager/tlog/store.js";
import {
  appendLeaf,
  consistencyProofRanges,
  emptyFrontier,
  hashRange,
  inclusionProofRanges,
  leafHash,
  nodeHash,
  verifyConsistency,
  verifyInclusion,
} from "../protocol/tlog/index.js";
import { createTestDatabase, type TestDatabase } from "../testing/postgres.js";
import { fmt, percentile } from "./stats.js";

const BATCH = 1000;
/** A receipt-sized entry: a compact JWS of an unattested receipt is ~1.1 KB. */
const ENTRY_BYTES = 1100;

function argList(args: string[], flag: string, fallback: number[]): number[] {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1]!.split(",").map(Number).filter((n) => Number.isInteger(n) && n > 0) : fallback;
}

function entry(i: number): Buffer {
  const body = randomBytes(ENTRY_BYTES).toString("base64url").slice(0, ENTRY_BYTES - 20);
  return Buffer.from(`eyJhbGciOiJFZERTQSJ9.${body}.${i.toString(36)}`);
}

/** Complete-subtree hashes per level in flat buffers: the database's tlog_nodes, in memory. */
class MemoryTree {
  levels: Buffer[] = [];
  counts: number[] = [];
  constructor(capacity: number) {
    for (let n = capacity; n >= 1; n = Math.floor(n / 2)) {
      this.levels.push(Buffer.alloc(n * 32));
      this.counts.push(0);
    }
  }
  append(leaf: Buffer): void {
    let hash = leaf;
    for (let l = 0; ; l++) {
      const i = this.counts[l]!;
      hash.copy(this.levels[l]!, i * 32);
      this.counts[l] = i + 1;
      if (i % 2 === 0) return;
      hash = nodeHash(this.levels[l]!.subarray((i - 1) * 32, i * 32), hash);
    }
  }
  node = (level: number, index: number): Buffer => this.levels[level]!.subarray(index * 32, index * 32 + 32);
}

async function bulkEnqueue(db: Database, from: number, n: number): Promise<void> {
  for (let start = 0; start < n; start += BATCH) {
    const m = Math.min(BATCH, n - start);
    const ids = Array.from({ length: m }, (_, k) => `run-${from + start + k}`);
    const entries = ids.map((_, k) => entry(from + start + k).toString("hex"));
    await db.query("INSERT INTO tlog_pending (run_id, entry) SELECT q.id, decode(q.e, 'hex') FROM unnest($1::text[], $2::text[]) AS q(id, e)", [ids, entries]);
  }
}

async function dbFigures(db: Database, n: number, log: TransparencyLog): Promise<void> {
  await bulkEnqueue(db, 0, n);
  // Floor: the same entries into a plain table, in the same batches, one transaction each (what any
  // store of receipts pays anyway). Batches alternate with the sequencer's, so that the machine's
  // load (shared, it moves by minutes) weighs on both alike; only the transactions are timed.
  await db.query("CREATE TABLE IF NOT EXISTS bench_plain (idx BIGINT PRIMARY KEY, run_id TEXT NOT NULL UNIQUE, entry BYTEA NOT NULL)");
  let seqMs = 0;
  let plainMs = 0;
  for (let start = 0; start < n; start += BATCH) {
    const m = Math.min(BATCH, n - start);
    const idx = Array.from({ length: m }, (_, k) => String(start + k));
    const hex = idx.map((i) => entry(Number(i)).toString("hex"));
    const t0 = performance.now();
    // One batch exactly as the sequencer appends it (TransparencyLog.sequence: one transaction per batch).
    const appended = await db.transaction((tx) => appendPending(tx, BATCH));
    seqMs += performance.now() - t0;
    if (appended.appended !== m) throw new Error(`a batch appended ${appended.appended} entries, not ${m}`);
    const t1 = performance.now();
    await db.transaction((tx) => tx.query("INSERT INTO bench_plain (idx, run_id, entry) SELECT q.i, 'p' || q.i, decode(q.e, 'hex') FROM unnest($1::bigint[], $2::text[]) AS q(i, e)", [idx, hex]));
    plainMs += performance.now() - t1;
  }
  // The checkpoint over all of them counts for the log.
  const t2 = performance.now();
  await log.sequence(true);
  seqMs += performance.now() - t2;
  const size = (await log.latestCheckpoint()).size;
  if (size !== n) throw new Error(`the log holds ${size} entries, not ${n}`);
  const rate = n / (seqMs / 1000);
  const plainRate = n / (plainMs / 1000);
  console.log(`  appends, batches of ${BATCH}: ${fmt(rate, 0)}/s (sequencer: entries + complete-subtree hashes + head + one checkpoint)`);
  console.log(`  floor, plain INSERT of the same entries in the same batches, alternating with the sequencer's: ${fmt(plainRate, 0)}/s → the log runs at ${fmt(rate / plainRate, 2)}x the floor`);

  // Proof serving from the database (inclusion for a run, consistency from a random size).
  const inc: number[] = [];
  const con: number[] = [];
  let incBytes = 0;
  let conBytes = 0;
  for (let k = 0; k < 200; k++) {
    const i = Math.floor(Math.random() * n);
    const a = performance.now();
    const b = await log.inclusionBundle(`run-${i}`);
    inc.push(performance.now() - a);
    incBytes += JSON.stringify({ ...b, checkpoint: undefined, entry: undefined }).length;
    const s1 = 1 + Math.floor(Math.random() * (n - 1));
    const c0 = performance.now();
    const c = await log.consistencyBundle(s1);
    con.push(performance.now() - c0);
    conBytes += JSON.stringify({ ...c, checkpoint1: undefined, checkpoint2: undefined }).length;
  }
  console.log(`  inclusion bundle from the database: p50 ${fmt(percentile(inc, 50), 2)} ms, p99 ${fmt(percentile(inc, 99), 2)} ms; ${fmt(incBytes / 200, 0)} B JSON without checkpoint and entry`);
  console.log(`  consistency bundle from the database: p50 ${fmt(percentile(con, 50), 2)} ms, p99 ${fmt(percentile(con, 99), 2)} ms; ${fmt(conBytes / 200, 0)} B JSON without checkpoints`);
}

async function completionLatency(db: Database, log: TransparencyLog, runs: number): Promise<void> {
  await db.query(`INSERT INTO tasks (id, name, state, spec, artifact_digest, created_at, updated_at) VALUES ('bench-task', 'b', 'running', '{}'::jsonb, 'sha256:00', now(), now()) ON CONFLICT DO NOTHING`);
  await db.query(
    `INSERT INTO runs (id, task_id, attempt, state, receipt_nonce, created_at)
     SELECT 'lat-' || g, 'bench-task', g, 'running', 'n', now() FROM generate_series(1, $1::int) g ON CONFLICT DO NOTHING`,
    [2 * runs],
  );
  const receipt = entry(0).toString();
  const complete = (tx: Parameters<Parameters<Database["transaction"]>[0]>[0], id: string) =>
    tx.query("UPDATE runs SET state = 'completed', finished_at = now(), receipt = $2, receipt_check = $3::jsonb WHERE id = $1 AND state = 'running'", [id, receipt, JSON.stringify({ ok: true, attested: false, reason: "", checks: [] })]);
  const without: number[] = [];
  const withLog: number[] = [];
  // Interleaved, so drift in the machine's load hits both alike.
  for (let k = 1; k <= runs; k++) {
    const a = performance.now();
    await db.transaction((tx) => complete(tx, `lat-${2 * k - 1}`));
    without.push(performance.now() - a);
    const b = performance.now();
    await db.transaction(async (tx) => {
      await complete(tx, `lat-${2 * k}`);
      await TransparencyLog.enqueue(tx, `lat-${2 * k}`, receipt);
    });
    withLog.push(performance.now() - b);
  }
  const p = (xs: number[], q: number) => fmt(percentile(xs, q), 3);
  console.log(`  run completion transaction, ${runs} runs each: without the log p50 ${p(without, 50)} ms p99 ${p(without, 99)} ms; with its receipt queued p50 ${p(withLog, 50)} ms p99 ${p(withLog, 99)} ms`);
  console.log(`  → the log adds p50 ${fmt(percentile(withLog, 50) - percentile(without, 50), 3)} ms (${fmt(percentile(withLog, 50) / percentile(without, 50), 2)}x the transaction)`);
  await log.sequence(true);
  // One receipt at a time: how long a sequencer pass takes to append it and sign a checkpoint.
  const pass: number[] = [];
  for (let k = 0; k < 100; k++) {
    await db.transaction((tx) => TransparencyLog.enqueue(tx, `single-${k}-${Date.now()}`, receipt));
    const a = performance.now();
    await log.sequence(true);
    pass.push(performance.now() - a);
  }
  console.log(`  sequencer pass for one receipt (append + checkpoint signed and stored): p50 ${p(pass, 50)} ms p99 ${p(pass, 99)} ms; a receipt is in a checkpoint after at most log.checkpointEveryMs (default 5000 ms) or checkpointEveryEntries`);
}

function memoryFigures(n: number): void {
  const entries = Array.from({ length: Math.min(n, 10_000) }, (_, i) => entry(i));
  const at = (i: number) => entries[i % entries.length]!;
  // Each timed twice, the better kept: the first round also pays for JIT warm-up.
  const best = (fn: () => void) => {
    let ms = Infinity;
    for (let round = 0; round < 2; round++) {
      const t = performance.now();
      fn();
      ms = Math.min(ms, performance.now() - t);
    }
    return ms;
  };
  // Floor: SHA-256 of every entry (any log must hash them once).
  const floorMs = best(() => {
    for (let i = 0; i < n; i++) createHash("sha256").update(at(i)).digest();
  });
  let tree = new MemoryTree(n);
  const treeMs = best(() => {
    tree = new MemoryTree(n);
    for (let i = 0; i < n; i++) tree.append(leafHash(at(i)));
  });
  const frontierMs = best(() => {
    let f = emptyFrontier();
    for (let i = 0; i < n; i++) f = appendLeaf(f, leafHash(at(i)));
  });
  const root = hashRange(0, n, tree.node);
  console.log(`  in memory: ${fmt(n / (treeMs / 1000), 0)} appends/s storing every subtree hash, ${fmt(n / (frontierMs / 1000), 0)}/s keeping only the right edge (a monitor); SHA-256 alone ${fmt(n / (floorMs / 1000), 0)}/s → ${fmt(floorMs / treeMs, 2)}x the floor`);

  const log2 = Math.log2(n);
  const incLens: number[] = [];
  const conLens: number[] = [];
  for (let k = 0; k < 1000; k++) {
    const i = Math.floor(Math.random() * n);
    const ranges = inclusionProofRanges(i, n);
    incLens.push(ranges.length);
    if (k < 50) {
      const proof = ranges.map((r) => hashRange(r.start, r.end, tree.node));
      if (!verifyInclusion(i, n, tree.node(0, i), proof, root).ok) throw new Error("in-memory inclusion proof failed");
    }
    const s1 = 1 + Math.floor(Math.random() * (n - 1));
    const cr = consistencyProofRanges(s1, n);
    conLens.push(cr.length);
    if (k < 50) {
      const proof = cr.map((r) => hashRange(r.start, r.end, tree.node));
      if (!verifyConsistency(s1, n, hashRange(0, s1, tree.node), root, proof).ok) throw new Error("in-memory consistency proof failed");
    }
  }
  const stat = (xs: number[]) => `min ${Math.min(...xs)} / mean ${fmt(xs.reduce((a, b) => a + b, 0) / xs.length, 1)} / max ${Math.max(...xs)}`;
  console.log(`  log2(n) = ${fmt(log2, 2)}; inclusion proof hashes ${stat(incLens)} (${fmt((incLens.reduce((a, b) => a + b, 0) / incLens.length) * 32, 0)} B raw); consistency proof hashes ${stat(conLens)} (bound 2·log2 n = ${fmt(2 * log2, 1)})`);
}

export async function benchTlog(args: string[]): Promise<void> {
  const dbSizes = argList(args, "--db-sizes", [10_000, 1_000_000]);
  const memSizes = argList(args, "--mem-sizes", [10_000, 1_000_000]);
  const pglite = args.includes("--pglite");
  const quiet = pino({ level: "silent" });
  console.log(`tlog: transparency log of receipts (entries of ${ENTRY_BYTES} B)`);
  for (const n of memSizes) {
    console.log(`n = ${n} (Merkle core in memory)`);
    memoryFigures(n);
  }
  for (const n of dbSizes) {
    let pgdb: TestDatabase | null = null;
    let url = "pglite://memory";
    if (!pglite) {
      pgdb = await createTestDatabase("bench_tlog");
      url = pgdb.url;
    }
    const db = await openManagerDatabase(url);
    const problems: string[] = [];
    const config = resolveLogConfig({ batchSize: BATCH, checkpointEveryEntries: 1_000_000, checkpointEveryMs: 86_400_000, sequenceEveryMs: 60_000 }, problems);
    const log = new TransparencyLog({ db, log: quiet, config });
    await log.start();
    // The bench drives the sequencer itself: no background pass (its timer) may drain the queue
    // between the measured batches. sequence() and the proof reads work on a closed log.
    await log.close();
    console.log(`n = ${n} (on ${pglite ? "PGlite in memory" : "PostgreSQL"})`);
    await dbFigures(db, n, log);
    await completionLatency(db, log, 300);
    await db.close();
    await pgdb?.drop();
  }
}
