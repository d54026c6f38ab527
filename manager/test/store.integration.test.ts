/** The store's SQL against BOTH implementations of the database seam: PGlite and real PostgreSQL. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../db/index.js";
import { sha256Digest } from "../../protocol/index.js";
import { createTestDatabase, type TestDatabase } from "../../testing/postgres.js";
import { openManagerDatabase } from "../store/open.js";
import * as artifacts from "../store/artifacts.js";
import * as proplets from "../store/proplets.js";
import * as runs from "../store/runs.js";
import * as tasks from "../store/tasks.js";
import type { TaskSpec } from "../tasks/model.js";

const spec = (digest: string): TaskSpec => ({
  runtime: "wasi-p1",
  artifact: { digest, size: 3, location: "inline" },
  entrypoint: { kind: "export", name: "add", inputs: [1, "9007199254740993"] },
  args: ["a"],
  env: { K: "v" },
  stdin: "",
  limits: { timeoutMs: 1000, memoryBytes: 65536, outputBytes: 1024 },
  target: null,
  requirements: { tags: ["gpu"], tee: null },
  onPropletLoss: "fail",
});

for (const kind of ["pglite", "postgres"] as const) {
  describe(`manager store (${kind})`, () => {
    let testDb: TestDatabase | undefined;
    let db: Database;
    const bytes = Buffer.from([0, 1, 255]);
    const digest = sha256Digest(bytes);

    beforeAll(async () => {
      if (kind === "postgres") testDb = await createTestDatabase("manager_store");
      db = await openManagerDatabase(testDb ? testDb.url : "pglite://memory");
    });
    afterAll(async () => {
      await db?.close();
      await testDb?.drop();
    });

    it("keeps inline artifacts by digest, once, and drops them when unused", async () => {
      await artifacts.putArtifact(db, digest, bytes);
      await artifacts.putArtifact(db, digest, bytes);
      expect(await artifacts.getArtifact(db, digest)).toEqual(bytes);
      const { rows } = await db.query<{ n: number | string }>("SELECT count(*) AS n FROM artifacts");
      expect(Number(rows[0]!.n)).toBe(1);
      await artifacts.dropArtifactIfUnused(db, digest);
      expect(await artifacts.getArtifact(db, digest)).toBeNull();
    });

    it("stores tasks with their spec intact and pages them by state, newest first", async () => {
      const now = new Date();
      for (let i = 0; i < 7; i++) {
        const t = await tasks.insertTask(db, { id: `page-${i}`, name: `n${i}`, spec: spec(digest), now });
        if (i % 2 === 0) await tasks.setTaskState(db, t.id, { state: "failed", pendingReason: null, now });
      }
      const first = await tasks.getTask(db, "page-0");
      expect(first!.spec).toEqual(spec(digest));
      expect(first!.state).toBe("failed");

      const seen: string[] = [];
      let afterSeq: number | undefined;
      for (let page = 0; page < 10; page++) {
        const items = await tasks.listTasks(db, { state: "failed", limit: 2, ...(afterSeq !== undefined ? { afterSeq } : {}) });
        seen.push(...items.map((t) => t.id));
        if (items.length < 2) break;
        afterSeq = items[items.length - 1]!.seq;
      }
      expect(seen).toEqual(["page-6", "page-4", "page-2", "page-0"]);
      const pending = await tasks.listTasks(db, { state: "pending", limit: 50 });
      expect(pending.map((t) => t.id)).toEqual(["page-5", "page-3", "page-1"]);
    });

    it("keeps every run of a task and changes a run only from the state it expects", async () => {
      const now = new Date();
      await tasks.insertTask(db, { id: "runs-1", name: "r", spec: spec(digest), now });
      const r1 = await runs.insertRun(db, { id: "run-a", taskId: "runs-1", attempt: 1, receiptNonce: "n1", now });
      const r2 = await runs.insertRun(db, { id: "run-b", taskId: "runs-1", attempt: 2, receiptNonce: "n2", now });
      await expect(runs.insertRun(db, { id: "run-c", taskId: "runs-1", attempt: 2, receiptNonce: "n3", now })).rejects.toThrow();
      expect((await runs.listRuns(db, "runs-1")).map((r) => r.id)).toEqual([r2.id, r1.id]);
      expect(await runs.maxAttempt(db, "runs-1")).toBe(2);

      const scheduled = await runs.updateRunIf(db, "run-a", "queued", { state: "scheduled", propletId: "p1", deliveries: 1, lastDeliveryAt: now });
      expect(scheduled).toMatchObject({ state: "scheduled", propletId: "p1", deliveries: 1 });
      // Losing a race changes nothing: the run is no longer queued.
      expect(await runs.updateRunIf(db, "run-a", "queued", { state: "stopped" })).toBeNull();
      // Wrong proplet changes nothing either.
      expect(await runs.updateRunIf(db, "run-a", "scheduled", { state: "running" }, "p2")).toBeNull();
      const result = { exitCode: 0, returnValues: [42], stdout: "aGk=", stderr: "", stdoutTruncated: false, stderrTruncated: false, error: null };
      const done = await runs.updateRunIf(db, "run-a", "scheduled", { state: "completed", result, finishedAt: now }, "p1");
      expect(done!.result).toEqual(result);
      expect((await runs.latestFinishedRun(db, "runs-1"))!.id).toBe("run-a");
      expect((await runs.loadByProplet(db)).get("p1")).toBeUndefined();
    });

    it("claims queued runs so that two concurrent claimers never get the same run", async () => {
      const now = new Date();
      for (let i = 0; i < 6; i++) {
        await tasks.insertTask(db, { id: `claim-${i}`, name: "c", spec: spec(digest), now });
        await runs.insertRun(db, { id: `claim-run-${i}`, taskId: `claim-${i}`, attempt: 1, receiptNonce: "n", now: new Date(now.getTime() + i) });
      }
      if (kind === "postgres") {
        // Two transactions at once on two connections: SKIP LOCKED splits the work.
        let release!: () => void;
        const held = new Promise<void>((r) => (release = r));
        let firstClaimed: string[] = [];
        const first = db.transaction(async (tx) => {
          firstClaimed = (await runs.claimQueuedRuns(tx, 4)).map((c) => c.run.id);
          await held;
        });
        await new Promise((r) => setTimeout(r, 200));
        const second = await db.transaction(async (tx) => (await runs.claimQueuedRuns(tx, 10)).map((c) => c.run.id));
        release();
        await first;
        expect(firstClaimed).toHaveLength(4);
        expect(second.filter((id) => firstClaimed.includes(id))).toEqual([]);
        expect([...firstClaimed, ...second].filter((id) => id.startsWith("claim-run-")).sort()).toEqual(
          Array.from({ length: 6 }, (_, i) => `claim-run-${i}`),
        );
      } else {
        const claimed = await db.transaction((tx) => runs.claimQueuedRuns(tx, 100));
        expect(claimed.map((c) => c.run.id).filter((id) => id.startsWith("claim-run-"))).toHaveLength(6);
        expect(claimed.find((c) => c.run.id === "claim-run-0")!.task.spec).toEqual(spec(digest));
      }
    });

    it("registers proplets, marks them gone once, and finds the silent ones", async () => {
      const caps = { runtimes: ["wasi-p1" as const], artifactSources: ["inline" as const], memoryBytes: 1, maxConcurrency: 1, tee: null, tags: [] };
      const t0 = new Date(Date.now() - 60_000);
      const first = await proplets.upsertAnnounced(db, { id: "sp1", name: "one", capabilities: caps, now: t0 });
      expect(first.wasAlive).toBe(false);
      const again = await proplets.upsertAnnounced(db, { id: "sp1", name: "one", capabilities: caps, now: new Date() });
      expect(again.wasAlive).toBe(true);
      expect(again.proplet.connectedAt.getTime()).toBe(t0.getTime()); // still the same connection
      await db.query("UPDATE proplets SET last_seen_at = $1 WHERE id = 'sp1'", [t0]);
      expect((await proplets.silentSince(db, new Date(Date.now() - 1000))).map((p) => p.id)).toEqual(["sp1"]);
      expect(await proplets.markGone(db, "sp1", "gone")).toBe(true);
      expect(await proplets.markGone(db, "sp1", "gone")).toBe(false);
      expect(await proplets.touchAlive(db, "sp1", new Date())).toBe(false);
      expect(await proplets.touchAlive(db, "unknown", new Date())).toBe(false);
      expect(await proplets.deleteProplet(db, "sp1")).toBe(true);
    });
  });
}
