/**
 * Two real manager processes (child processes) on one PostgreSQL database and one Mosquitto
 * at once: many tasks submitted to both, scripted proplets answering at once; every task
 * is dispatched exactly once. Cron ticks and a sequential job handled by both managers are not
 * doubled either (ticks and workflow advancement are claimed with FOR UPDATE SKIP LOCKED).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../testing/postgres.js";
import { TEST_MQTT_URL } from "../../testing/mosquitto.js";
import { uniqueTopicRoot, waitFor } from "../../testing/net.js";
import { stopProcess } from "../../testing/process.js";
import { ADMIN_KEY, ARTIFACT, ScriptedProplet, api } from "../../manager/test/helpers.js";

const ENTRY = fileURLToPath(new URL("./support/manager-process.ts", import.meta.url));

/** Every manager process started, so afterAll stops it even when a later start fails. */
const procs: ChildProcess[] = [];

async function startManagerProcess(databaseUrl: string, topicRoot: string, id: string): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(process.execPath, ["--import", "tsx", "--no-warnings", ENTRY], {
    env: { ...process.env, PROPELLER_DATABASE_URL: databaseUrl, PROPELLER_MQTT_URL: TEST_MQTT_URL, PROPELLER_TOPIC_ROOT: topicRoot, PROPELLER_MANAGER_ID: id, PROPELLER_ADMIN_KEY: ADMIN_KEY },
    stdio: ["ignore", "pipe", "inherit"],
  });
  procs.push(proc);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`manager ${id} did not start within 30 s`)), 30_000);
    proc.once("exit", (code) => reject(new Error(`manager ${id} exited with ${code}`)));
    createInterface({ input: proc.stdout! }).once("line", (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { url: string }).url);
    });
  });
  return { proc, url };
}

describe("scheduling: two manager processes on one database", () => {
  let db: TestDatabase;
  const proplets: ScriptedProplet[] = [];
  afterAll(async () => {
    for (const p of proplets) await p.close().catch(() => undefined);
    for (const proc of procs) await stopProcess(proc);
    await db?.drop();
  });

  it("never dispatches a task twice, nor doubles a cron tick or a job step", async () => {
    db = await createTestDatabase("sched_multi");
    const root = uniqueTopicRoot();
    // Started together on the empty database: both migrate it at once (db/migrate.ts serialises them).
    const [m1, m2] = await Promise.all([startManagerProcess(db.url, root, "mgr-one"), startManagerProcess(db.url, root, "mgr-two")]);
    expect(m1.url).not.toBe(m2.url);
    const bases = [m1.url, m2.url];

    for (let i = 0; i < 3; i++) {
      const p = await ScriptedProplet.connect(TEST_MQTT_URL, root, `multi-${i}`, { capabilities: { maxConcurrency: 50 } });
      proplets.push(p);
    }
    await waitFor(async () => (await api<{ items: Array<{ alive: boolean }> }>(m1.url, "GET", "/proplets")).body.items.filter((p) => p.alive).length === 3, 15_000, "3 proplets live");
    // Every run is answered as soon as it arrives (first delivery only; a repeat would show in `starts`).
    const answered = new Set<string>();
    const timer = setInterval(() => {
      for (const p of proplets) {
        for (const s of p.runs) {
          if (answered.has(s.runId)) continue;
          answered.add(s.runId);
          void p.result(s, { stdout: s.taskId }).catch(() => undefined);
        }
      }
    }, 20);

    try {
      const N = 300;
      const ids: string[] = [];
      for (let batch = 0; batch < N / 50; batch++) {
        const created = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            api<{ id: string }>(bases[(batch * 50 + i) % 2]!, "POST", "/tasks", { name: `m-${batch}-${i}`, artifact: ARTIFACT, priority: i % 101, start: true }),
          ),
        );
        for (const c of created) {
          expect(c.status).toBe(201);
          ids.push(c.body.id);
        }
      }
      const cron = await api<{ id: string }>(m1.url, "POST", "/tasks", { name: "tick", artifact: ARTIFACT, schedule: { cron: "* * * * * *" } });
      const job = await api<{ id: string }>(m2.url, "POST", "/jobs", {
        name: "seq",
        mode: "sequential",
        tasks: [1, 2, 3, 4, 5].map((i) => ({ name: `s${i}`, task: { artifact: ARTIFACT } })),
        start: true,
      });
      expect(job.status).toBe(201);

      await waitFor(async () => {
        const done = await api<{ items: unknown[] }>(m2.url, "GET", "/tasks?state=completed&limit=500");
        return done.body.items.length >= N;
      }, 60_000, `${N} tasks completed`);
      const jobDone = await waitFor(async () => {
        const r = await api<{ state: string; nodes: Array<{ state: string }> }>(m1.url, "GET", `/jobs/${job.body.id}`);
        return r.body.state === "completed" ? r.body : null;
      }, 30_000, "job completed");
      expect(jobDone.nodes.every((n) => n.state === "completed")).toBe(true);
      await new Promise((r) => setTimeout(r, 3000)); // cron ticks, and room for a double delivery to show
      await api(m1.url, "PATCH", `/tasks/${cron.body.id}`, { schedule: null });
      await new Promise((r) => setTimeout(r, 1500));

      const starts = proplets.flatMap((p) => p.starts);
      // Exactly one delivery per run, and one run per task.
      expect(new Set(starts.map((s) => s.runId)).size).toBe(starts.length);
      const perTask = new Map<string, number>();
      for (const s of starts) perTask.set(s.taskId, (perTask.get(s.taskId) ?? 0) + 1);
      for (const id of ids) expect(perTask.get(id)).toBe(1);
      // Both managers placed work (each one claims under its own SKIP LOCKED transactions).
      const runs = await Promise.all(ids.slice(0, 40).map((id) => api<{ items: Array<{ state: string }> }>(m1.url, "GET", `/tasks/${id}/runs`)));
      expect(runs.every((r) => r.body.items.length === 1 && r.body.items[0]!.state === "completed")).toBe(true);
      // Cron: at most one run per tick second, never two for the same tick.
      const tickRuns = await api<{ items: Array<{ createdAt: string }> }>(m1.url, "GET", `/tasks/${cron.body.id}/runs`);
      const seconds = tickRuns.body.items.map((r) => Math.floor(new Date(r.createdAt).getTime() / 1000));
      expect(tickRuns.body.items.length).toBeGreaterThanOrEqual(2);
      expect(new Set(seconds).size).toBe(seconds.length);
    } finally {
      clearInterval(timer);
    }
  });
});
