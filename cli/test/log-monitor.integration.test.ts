/**
 * The log's clients against real managers (PostgreSQL + Mosquitto, and an embedded second log that
 * shares the first one's key: a split view). The operator's misbehaviour is played by editing the
 * log's tables directly, as an operator could.
 */
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../main.js";
import { ADMIN_KEY, createTask, startBacking, startHarness, waitForProplet, waitForTask, type Backing, type Harness, type ScriptedProplet } from "../../manager/test/helpers.js";
import { generateNoteKey, leafHash, nodeHash, parseNote } from "../../protocol/tlog/index.js";
import { waitFor } from "../../testing/net.js";

async function run(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (t) => void out.push(t), err: (t) => void err.push(t) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

const LOG_KEY = generateNoteKey("test.example/receipts");
const WITNESS = generateNoteKey("witness.example/w1", 0x04);

interface Side {
  backing: Backing;
  h: Harness;
  p: ScriptedProplet;
  runs: Array<{ taskId: string; runId: string }>;
}

async function side(deployment: "services" | "embedded", witnesses: string[]): Promise<Side> {
  const backing = await startBacking(deployment);
  const h = await startHarness(backing, { log: { signerKey: LOG_KEY.signerKey, checkpointEveryEntries: 1, witnesses } });
  const p = await h.proplet(`mon-${deployment}`, { capabilities: { tags: ["mon"] } });
  await waitForProplet(h, p.id);
  return { backing, h, p, runs: [] };
}

/** Completes n runs with valid receipts and waits until the log's checkpoint covers them. */
async function complete(s: Side, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const task = await createTask(s.h, { name: `m${s.runs.length}`, start: true, requirements: { tags: ["mon"] } });
    const start = await s.p.waitForStart(s.runs.length + 1);
    await waitForTask(s.h, task.id, (t) => t.state === "running", "running");
    await s.p.result(start, { stdout: `out ${s.runs.length}` });
    await waitForTask(s.h, task.id, (t) => t.state === "completed", "completed");
    s.runs.push({ taskId: task.id, runId: start.runId });
  }
  await waitFor(async () => {
    const note = await (await fetch(`${s.h.manager.url}/log/checkpoint`)).text();
    return parseNote(note).text.split("\n")[1] === String(s.runs.length);
  }, 10_000, `the checkpoint to reach ${s.runs.length}`);
}

describe("propeller log monitor, witness and receipt verify --log against real managers", () => {
  let a: Side;
  let b: Side;
  let dir: string;
  let state: string;
  const url = (s: Side) => `${s.h.manager.url}/log`;
  const monitor = (s: Side, ...extra: string[]) => run(["log", "monitor", "--log", url(s), "--log-key", LOG_KEY.verifierKey, "--state", state, ...extra]);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "log-monitor-"));
    state = join(dir, "monitor.json");
    a = await side("services", [WITNESS.verifierKey]);
    b = await side("embedded", []);
  }, 180_000);
  afterAll(async () => {
    for (const s of [a, b]) {
      await s?.p.close();
      await s?.h.close();
      await s?.backing.close();
    }
  });

  it("follows a growing log, re-hashing every entry, and lists the receipts of a proplet", async () => {
    await complete(a, 3);
    const first = await monitor(a, "--proplet", a.p.id);
    expect(first.code, first.err).toBe(0);
    expect(first.out.split("\n").filter((l) => l.startsWith("entry "))).toHaveLength(3);
    expect(first.out).toContain(a.runs[0]!.runId);
    expect(first.err).toMatch(/size 3, consistent; 3 entries checked/);
    await complete(a, 1);
    const second = await monitor(a);
    expect(second.code, second.err).toBe(0);
    expect(second.err).toMatch(/size 4 \(was 3\), consistent; 1 entries checked/);
    const none = await monitor(a, "--workload", `sha256:${"0".repeat(64)}`, "--full");
    expect(none.code).toBe(0);
    expect(none.out).toBe("");

    // Every run of a workload, found from the log alone: the runs whose receipts name that digest.
    const claims = await Promise.all(
      a.runs.map(async (r) => {
        const jws = (await a.h.api("GET", `/tasks/${r.taskId}/runs/${r.runId}`)).body.receipt as string;
        return { runId: r.runId, workload: (JSON.parse(Buffer.from(jws.split(".")[1]!, "base64url").toString()) as { workload: { plaintext: string } }).workload.plaintext };
      }),
    );
    const digest = claims[0]!.workload;
    const byWorkload = await monitor(a, "--workload", digest, "--full", "--json");
    expect(byWorkload.code, byWorkload.err).toBe(0);
    const listed = byWorkload.out.split("\n").map((l) => JSON.parse(l) as { runId?: string; workload?: string; index?: number; ok?: boolean });
    const entries = listed.filter((l) => l.runId !== undefined);
    expect(entries.map((e) => e.runId).sort()).toEqual(claims.filter((c) => c.workload === digest).map((c) => c.runId).sort());
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.every((e) => e.workload === digest && Number.isInteger(e.index))).toBe(true);
    expect(listed[listed.length - 1]).toMatchObject({ ok: true, size: 4, matches: entries.length });
    // Both filters at once: that workload on that proplet; another proplet has none.
    expect((await monitor(a, "--workload", digest, "--proplet", a.p.id, "--full")).out.split("\n").filter((l) => l.startsWith("entry "))).toHaveLength(entries.length);
    expect((await monitor(a, "--workload", digest, "--proplet", "someone-else", "--full")).out).toBe("");
  }, 60_000);

  it("verifies a receipt's inclusion from the log URL, and offline from a saved checkpoint and proof", async () => {
    const r = a.runs[1]!;
    const receipt = (await a.h.api("GET", `/tasks/${r.taskId}/runs/${r.runId}`)).body.receipt as string;
    const jws = join(dir, "r.jws");
    await writeFile(jws, receipt);
    const online = await run(["receipt", "verify", jws, "--allow-unattested", "--log", url(a), "--log-key", LOG_KEY.verifierKey]);
    expect(online.out).toMatch(/✔ log.proof.inclusion/);
    expect(online.out).toMatch(/✔ log.checkpoint/);

    const bundle = (await (await fetch(`${url(a)}/proof/inclusion?runId=${r.runId}`)).json()) as { checkpoint: string };
    await writeFile(join(dir, "proof.json"), JSON.stringify(bundle));
    await writeFile(join(dir, "checkpoint"), bundle.checkpoint);
    const offline = await run(["receipt", "verify", jws, "--allow-unattested", "--log", join(dir, "checkpoint"), "--proof", join(dir, "proof.json"), "--log-key", LOG_KEY.verifierKey]);
    expect(offline.out).toMatch(/✔ log.proof.inclusion/);
    // Another receipt against the same proof: not the entry the proof is for.
    const other = (await a.h.api("GET", `/tasks/${a.runs[2]!.taskId}/runs/${a.runs[2]!.runId}`)).body.receipt as string;
    await writeFile(join(dir, "other.jws"), other);
    const wrong = await run(["receipt", "verify", join(dir, "other.jws"), "--allow-unattested", "--log", join(dir, "checkpoint"), "--proof", join(dir, "proof.json"), "--log-key", LOG_KEY.verifierKey]);
    expect(wrong.code).toBe(1);
    expect(wrong.out).toMatch(/✘ log.entry.leaf-hash/);
    // A pinned key that is not the log's.
    const stranger = generateNoteKey("test.example/receipts").verifierKey;
    const unpinned = await run(["receipt", "verify", jws, "--allow-unattested", "--log", url(a), "--log-key", stranger]);
    expect(unpinned.code).toBe(1);
    expect(unpinned.out).toMatch(/✘ log.checkpoint .*no signature from a known key/);
  }, 60_000);

  it("cosigns as a witness after checking consistency; a quorum policy then holds only for cosigned checkpoints", async () => {
    const keyFile = join(dir, "witness.key");
    await writeFile(keyFile, WITNESS.signerKey);
    const r = a.runs[0]!;
    const jws = join(dir, "w.jws");
    await writeFile(jws, (await a.h.api("GET", `/tasks/${r.taskId}/runs/${r.runId}`)).body.receipt as string);
    const policy = ["--witness", WITNESS.verifierKey, "--quorum", "1"];
    const before = await run(["receipt", "verify", jws, "--allow-unattested", "--log", url(a), "--log-key", LOG_KEY.verifierKey, ...policy]);
    expect(before.code).toBe(1);
    expect(before.out).toMatch(/policy requires 1/);

    const w = await run(["log", "witness", "--log", url(a), "--log-key", LOG_KEY.verifierKey, "--key", keyFile, "--state", join(dir, "witness.json"), "--token", ADMIN_KEY]);
    expect(w.code, w.err).toBe(0);
    expect(w.err).toMatch(/accepted witness.example\/w1/);
    const after = await run(["receipt", "verify", jws, "--allow-unattested", "--log", url(a), "--log-key", LOG_KEY.verifierKey, ...policy]);
    expect(after.out).toMatch(/✔ log.checkpoint .*cosigned by witness.example\/w1/);
    expect(after.code).toBe(0);
    // What a caller posts is checked at the boundary: a malformed note is a 400 that says why, never a 500.
    const junk = await fetch(`${url(a)}/cosignature`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_KEY}` }, body: JSON.stringify({ checkpoint: "x" }) });
    expect(junk.status).toBe(400);
    expect(((await junk.json()) as { message: string }).message).toMatch(/blank line/);
  }, 60_000);

  it("reports a smaller size and a fork (same size, other root, same key) as evidence, without advancing its state", async () => {
    const saved = await readFile(state, "utf8");
    await complete(b, 2);
    const rollback = await monitor(b);
    expect(rollback.code).toBe(1);
    expect(JSON.parse(rollback.out)).toMatchObject({ evidence: "rollback" });
    await complete(b, 2);
    const fork = await monitor(b);
    expect(fork.code).toBe(1);
    const evidence = JSON.parse(fork.out);
    expect(evidence).toMatchObject({ evidence: "fork" });
    // The evidence is two checkpoints of one size, both signed by the log's key.
    for (const note of [evidence.previous, evidence.current]) {
      expect((await run(["log", "verify-proof", await bundleFile(note)])).code).toBe(0);
    }
    expect(await readFile(state, "utf8")).toBe(saved);
    // A checkpoint that the pinned key did not sign (a key of the same name): evidence, no state written.
    const freshState = join(dir, "stranger.json");
    const stranger = await run(["log", "monitor", "--log", url(a), "--log-key", generateNoteKey("test.example/receipts").verifierKey, "--state", freshState]);
    expect(stranger.code).toBe(1);
    expect(JSON.parse(stranger.out)).toMatchObject({ evidence: "bad-checkpoint" });
    await expect(readFile(freshState, "utf8")).rejects.toThrow();
  }, 90_000);

  /** A trivially true consistency bundle (size n to n) carrying the checkpoint, to check its signature with the CLI. */
  async function bundleFile(note: string): Promise<string> {
    const [, size, root] = parseNote(note).text.split("\n");
    const file = join(dir, `cp-${Math.random().toString(36).slice(2)}.json`);
    await writeFile(file, JSON.stringify({ size1: Number(size), size2: Number(size), root1: root, root2: root, proof: [], checkpoint2: note }));
    return file;
  }

  it("detects a rewritten entry: served bytes that no longer hash to the tree, then a rewritten history", async () => {
    const db = new pg.Client({ connectionString: a.backing.databaseUrl });
    await db.connect();
    try {
      // The operator swaps the bytes of entry 1 for entry 0's (the tree's hashes untouched).
      await db.query("UPDATE tlog_entries SET entry = (SELECT entry FROM tlog_entries WHERE idx = 0) WHERE idx = 1");
      const quick = await monitor(a);
      expect(quick.code).toBe(0); // nothing new: the saved right edge still matches
      const full = await monitor(a, "--full");
      expect(full.code).toBe(1);
      expect(JSON.parse(full.out)).toMatchObject({ evidence: "entries-mismatch" });

      // Now a consistent-looking rewrite: every hash recomputed from the swapped entries, and the log
      // keeps appending and signing on top of the rewritten tree.
      const { rows } = await db.query<{ entry: Buffer }>("SELECT entry FROM tlog_entries ORDER BY idx");
      let level = rows.map((r) => leafHash(r.entry));
      await db.query("DELETE FROM tlog_nodes");
      for (let l = 0; level.length > 0; l++) {
        await db.query("INSERT INTO tlog_nodes (level, idx, hash) SELECT $1, i - 1, h FROM unnest($2::bytea[]) WITH ORDINALITY AS q(h, i)", [l, level]);
        const up: Buffer[] = [];
        for (let i = 0; i + 1 < level.length; i += 2) up.push(nodeHash(level[i]!, level[i + 1]!));
        level = up;
      }
      await complete(a, 1);
      const rewritten = await monitor(a);
      expect(rewritten.code).toBe(1);
      const evidence = JSON.parse(rewritten.out);
      expect(evidence.evidence).toBe("inconsistent");
      expect(rewritten.err).toMatch(/does not extend the one of size 4/);
      // A witness refuses to cosign it too.
      const w = await run(["log", "witness", "--log", url(a), "--log-key", LOG_KEY.verifierKey, "--key", join(dir, "witness.key"), "--state", join(dir, "witness.json"), "--token", ADMIN_KEY]);
      expect(w.code).toBe(1);
      expect(w.err).toMatch(/not cosigning/);
    } finally {
      await db.end();
    }
  }, 90_000);
});
