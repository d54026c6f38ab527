import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pino from "pino";
import type { Database } from "../../../db/index.js";
import { openManagerDatabase } from "../../store/open.js";
import { createTestDatabase, type TestDatabase } from "../../../testing/postgres.js";
import {
  consistencyProof,
  leafHash,
  openCheckpoint,
  parseProofBundle,
  parseVerifierKey,
  rootOf,
  verifyConsistency,
  verifyProofBundle,
  decodeEntryBundle,
  decodeTile,
  tilePath,
  parseTilePath,
  addCosignature,
  generateNoteKey,
  parseSignerKey,
  signCheckpoint,
  SIG_COSIGNATURE_V1,
} from "../../../protocol/tlog/index.js";
import { InvalidRequestError, NotFoundError } from "../../errors.js";
import { resolveLogConfig, type LogConfigInput } from "../config.js";
import { TransparencyLog } from "../log.js";
import * as store from "../store.js";

const log = pino({ level: process.env.PROPELLER_TEST_LOG ?? "silent" });

function config(input: LogConfigInput = {}) {
  const problems: string[] = [];
  const c = resolveLogConfig({ sequenceEveryMs: 60_000, ...input }, problems);
  expect(problems).toEqual([]);
  return c;
}

async function enqueueMany(db: Database, prefix: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await db.transaction((tx) => TransparencyLog.enqueue(tx, `${prefix}-${i}`, `receipt ${prefix} ${i}`));
}

/** Every entry in index order, and the tree the store claims, checked against an in-memory rebuild. */
async function audit(db: Database): Promise<{ entries: string[]; root: Buffer }> {
  const { rows } = await db.query<{ idx: unknown; entry: Uint8Array }>("SELECT idx, entry FROM tlog_entries ORDER BY idx");
  rows.forEach((r, i) => expect(Number(r.idx)).toBe(i));
  const leaves = rows.map((r) => leafHash(Buffer.from(r.entry)));
  return { entries: rows.map((r) => Buffer.from(r.entry).toString()), root: rootOf(leaves) };
}

describe("transparency log on PGlite", () => {
  let db: Database;
  let tlog: TransparencyLog;
  beforeAll(async () => {
    db = await openManagerDatabase("pglite://memory");
    tlog = new TransparencyLog({ db, log, config: config({ checkpointEveryEntries: 10 }) });
    await tlog.start();
  });
  afterAll(async () => {
    await tlog.close();
    await db.close();
  });

  it("starts with a signed checkpoint of the empty tree", async () => {
    const cp = openCheckpoint((await tlog.latestCheckpoint()).note, parseVerifierKey(tlog.verifierKey));
    expect(cp.checkpoint.size).toBe(0);
  });

  it("appends queued receipts, issues checkpoints every 10 entries, serves proofs and tiles that verify", async () => {
    await enqueueMany(db, "a", 25);
    await tlog.sequence();
    const cp = await tlog.latestCheckpoint();
    // 25 entries in, a checkpoint is due at ≥10 waiting: one at 25 (one pass appended them all).
    expect(cp.size).toBe(25);
    const { root } = await audit(db);
    expect(cp.root.equals(root)).toBe(true);
    const key = parseVerifierKey(tlog.verifierKey);

    const inc = await tlog.inclusionBundle("a-7");
    expect(inc).toMatchObject({ leafIdx: 7, treeSize: 25 });
    expect(verifyProofBundle(parseProofBundle(inc), { logKey: key })).toMatchObject({ ok: true });

    await enqueueMany(db, "b", 3);
    await tlog.sequence();
    // 3 waiting: not due by count, not due by time yet.
    expect((await tlog.latestCheckpoint()).size).toBe(25);
    await tlog.sequence(true);
    expect((await tlog.latestCheckpoint()).size).toBe(28);
    const con = await tlog.consistencyBundle(25, 28);
    expect(con.checkpoint1).toBeDefined();
    expect(verifyProofBundle(parseProofBundle(con), { logKey: key })).toMatchObject({ ok: true });

    // Tiles: the partial level-0 tile and entry bundle of size 28 hash to the checkpoint's root.
    const tile = decodeTile(await tlog.tile(parseTilePath("0/000.p/28")!));
    const entries = decodeEntryBundle(await tlog.tile(parseTilePath("entries/000.p/28")!));
    expect(entries.map((e) => leafHash(e))).toEqual(tile);
    expect(rootOf(tile).equals((await tlog.latestCheckpoint()).root)).toBe(true);
    expect(tilePath({ level: 0, index: 0, width: 28 })).toBe("tile/0/000.p/28");
    // Beyond the checkpoint: refused.
    await expect(tlog.tile(parseTilePath("0/000.p/29")!)).rejects.toThrow(/beyond the latest checkpoint/);
    await expect(tlog.tile(parseTilePath("0/000")!)).rejects.toThrow(/beyond/);
  });

  it("issues a checkpoint once the oldest waiting entry is older than checkpointEveryMs", async () => {
    let now = Date.now();
    const timed = new TransparencyLog({ db, log, config: config({ checkpointEveryEntries: 1000, checkpointEveryMs: 1000 }), now: () => new Date(now) });
    await timed.start();
    const before = (await timed.latestCheckpoint()).size;
    await enqueueMany(db, "t", 2);
    await timed.sequence();
    expect((await timed.latestCheckpoint()).size).toBe(before);
    now += 5000;
    await timed.sequence();
    expect((await timed.latestCheckpoint()).size).toBe(before + 2);
    await timed.close();
  });

  it("never logs one run twice and never issues two roots for one size", async () => {
    await db.transaction((tx) => TransparencyLog.enqueue(tx, "a-3", "receipt a 3 again"));
    await tlog.sequence(true);
    const { rows } = await db.query<{ n: unknown }>("SELECT count(*) AS n FROM tlog_entries WHERE run_id = 'a-3'");
    expect(Number(rows[0]!.n)).toBe(1);
    expect(await store.pendingCount(db)).toBe(0);
    const size = (await tlog.latestCheckpoint()).size;
    expect(await store.insertCheckpoint(db, { size, root: Buffer.alloc(32, 7), note: "forged\n" })).toBe(false);
  });
});

describe("witness cosignatures on PGlite", () => {
  it("keeps a configured witness's cosignature; refuses malformed notes, forged or unknown cosignatures and checkpoints it never issued as bad requests", async () => {
    const db = await openManagerDatabase("pglite://memory");
    const witness = generateNoteKey("witness.example/w", SIG_COSIGNATURE_V1);
    const tlog = new TransparencyLog({ db, log, config: config({ witnesses: [witness.verifierKey] }) });
    await tlog.start();
    try {
      await enqueueMany(db, "w", 3);
      await tlog.sequence(true);
      const issued = await tlog.latestCheckpoint();
      const cosigned = addCosignature(issued.note, parseSignerKey(witness.signerKey));
      expect(await tlog.addCosignatures(cosigned)).toEqual(["witness.example/w"]);
      const served = (await tlog.latestCheckpoint()).note;
      const policy = { witnesses: [parseVerifierKey(witness.verifierKey)], quorum: 1 };
      expect(openCheckpoint(served, parseVerifierKey(tlog.verifierKey), policy).cosignedBy.map((c) => c.name)).toEqual(["witness.example/w"]);

      const refused = async (note: string, why: RegExp) => {
        const err = await tlog.addCosignatures(note).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(InvalidRequestError);
        expect((err as Error).message).toMatch(why);
      };
      await refused("x", /blank line/);
      await refused(`${issued.note.trimEnd()}\n\u2014 witness.example/w !!!\n`, /signature line/);
      // The witness's line with one byte of its signature flipped.
      const lines = cosigned.trimEnd().split("\n");
      const raw = Buffer.from(lines[lines.length - 1]!.split(" ")[2]!, "base64");
      raw[raw.length - 1]! ^= 1;
      await refused(`${lines.slice(0, -1).join("\n")}\n\u2014 witness.example/w ${raw.toString("base64")}\n`, /does not verify/);
      // A witness the log does not know.
      await refused(addCosignature(issued.note, parseSignerKey(generateNoteKey("stranger.example/w", SIG_COSIGNATURE_V1).signerKey)), /no signature from a known key/);
      // A checkpoint of the right size but another root, cosigned by the real witness: not one the log issued.
      const other = signCheckpoint({ origin: tlog.origin, size: issued.size, root: Buffer.alloc(32, 9) }, parseSignerKey(generateNoteKey(tlog.origin).signerKey));
      await refused(addCosignature(other, parseSignerKey(witness.signerKey)), /not the one this log issued/);
      // A size the log never checkpointed.
      const unknownSize = signCheckpoint({ origin: tlog.origin, size: 99, root: Buffer.alloc(32, 9) }, parseSignerKey(generateNoteKey(tlog.origin).signerKey));
      await expect(tlog.addCosignatures(addCosignature(unknownSize, parseSignerKey(witness.signerKey)))).rejects.toBeInstanceOf(NotFoundError);
      // Nothing refused changed what is served.
      expect((await tlog.latestCheckpoint()).note).toBe(served);
    } finally {
      await tlog.close();
      await db.close();
    }
  });
});

describe("transparency log on PostgreSQL", () => {
  let pgdb: TestDatabase;
  beforeAll(async () => {
    pgdb = await createTestDatabase("tlog_test");
  });
  afterAll(async () => {
    await pgdb.drop();
  });

  it("two managers appending concurrently build one tree: no fork, no entry lost or doubled, every checkpoint consistent", async () => {
    const dbA = await openManagerDatabase(pgdb.url);
    const dbB = await openManagerDatabase(pgdb.url);
    const A = new TransparencyLog({ db: dbA, log, config: config({ checkpointEveryEntries: 7, batchSize: 13 }) });
    const B = new TransparencyLog({ db: dbB, log, config: config({ checkpointEveryEntries: 7, batchSize: 13 }) });
    await Promise.all([A.start(), B.start()]);
    // One log, one key: the second manager read the key the first generated.
    expect(A.verifierKey).toBe(B.verifierKey);
    const per = 150;
    let stop = false;
    const sequencer = async (l: TransparencyLog) => {
      while (!stop) await l.sequence();
    };
    const seqA = sequencer(A);
    const seqB = sequencer(B);
    await Promise.all([enqueueMany(dbA, "A", per), enqueueMany(dbB, "B", per)]);
    stop = true;
    await Promise.all([seqA, seqB]);
    await A.sequence(true);

    const { entries, root } = await audit(dbA);
    expect(entries).toHaveLength(2 * per);
    expect(new Set(entries).size).toBe(2 * per);
    const cps = (await dbA.query<{ size: unknown; root: Uint8Array; note: string }>("SELECT size, root, note FROM tlog_checkpoints ORDER BY size")).rows;
    expect(cps.length).toBeGreaterThan(10);
    const last = cps[cps.length - 1]!;
    expect(Number(last.size)).toBe(2 * per);
    expect(Buffer.from(last.root).equals(root)).toBe(true);
    // Every checkpoint, whichever manager signed it, is a prefix of the final tree.
    const leaves = entries.map((e) => leafHash(Buffer.from(e)));
    const key = parseVerifierKey(A.verifierKey);
    for (const cp of cps) {
      const opened = openCheckpoint(cp.note, key).checkpoint;
      expect(opened.root.equals(rootOf(leaves, 0, opened.size))).toBe(true);
      const proof = consistencyProof(leaves, opened.size, 2 * per);
      expect(verifyConsistency(opened.size, 2 * per, opened.root, root, proof).ok).toBe(true);
      // And the log's own consistency proof agrees.
      expect(verifyProofBundle(parseProofBundle(await B.consistencyBundle(opened.size)), { logKey: key }).ok).toBe(true);
    }
    await Promise.all([A.close(), B.close()]);
    await Promise.all([dbA.close(), dbB.close()]);
  });

  it("a receipt queued with its run but not appended before a crash is appended at the next start; so is a stored run never queued", async () => {
    const db = await openManagerDatabase(pgdb.url);
    const first = new TransparencyLog({ db, log, config: config() });
    await first.start();
    const before = await store.headSize(db);
    // Queued in the storing transaction, then the process "dies": no sequencer pass runs.
    await db.transaction((tx) => TransparencyLog.enqueue(tx, "crash-1", "receipt crash 1"));
    await db.close();

    const db2 = await openManagerDatabase(pgdb.url);
    // A run stored with a verified receipt by a manager that had no log (nothing queued).
    await db2.query(
      `INSERT INTO tasks (id, name, state, spec, artifact_digest, created_at, updated_at) VALUES ('task-old', 'old', 'completed', '{}'::jsonb, 'sha256:00', now(), now())`,
    );
    await db2.query(
      `INSERT INTO runs (id, task_id, attempt, state, receipt_nonce, created_at, receipt, receipt_check, finished_at)
       VALUES ('run-old', 'task-old', 1, 'completed', 'n', now(), 'aaa.bbb.ccc', '{"ok": true, "attested": false, "reason": "", "checks": []}'::jsonb, now())`,
    );
    const second = new TransparencyLog({ db: db2, log, config: config() });
    await second.start();
    expect(await store.headSize(db2)).toBe(before + 2);
    expect(await store.entryOfRun(db2, "crash-1")).not.toBeNull();
    expect((await store.entryOfRun(db2, "run-old"))?.entry.toString()).toBe("aaa.bbb.ccc");
    // Started again: nothing is queued twice.
    await second.close();
    const third = new TransparencyLog({ db: db2, log, config: config() });
    await third.start();
    expect(await store.headSize(db2)).toBe(before + 2);
    await third.close();
    await db2.close();
  });
});
