/**
 * Scheduling end to end: the real manager on the machine's Mosquitto and a fresh
 * PostgreSQL database, with scripted proplets (real MQTT clients speaking the proplet protocol).
 *   a. the queue: priority order under contention, aging past a bound, waiting for a proplet,
 *      constraints (tags, free memory), pack placement;
 *   b. retries with backoff, rescheduling when a proplet dies mid-run;
 *   c. broadcast to 3 proplets with an aggregated result.
 */
import { afterEach, describe, expect, it } from "vitest";
import { waitFor } from "../../testing/net.js";
import {
  ARTIFACT,
  createTask,
  getTask,
  startBacking,
  startHarness,
  waitForProplet,
  waitForTask,
  type Backing,
  type Harness,
  type ScriptedProplet,
} from "../../manager/test/helpers.js";
import type { ManagerConfigInput } from "../../manager/index.js";

let backing: Backing | undefined;
let h: Harness | undefined;

async function start(overrides: Partial<ManagerConfigInput> = {}): Promise<Harness> {
  backing = await startBacking("services");
  h = await startHarness(backing, { ackTimeoutMs: 30_000, reconcileGraceMs: 1000, ...overrides });
  return h;
}

afterEach(async () => {
  await h?.close();
  await backing?.close();
  h = undefined;
  backing = undefined;
});

/** The names of the tasks a proplet received, in the order it received them. */
function namesOf(p: ScriptedProplet, byTask: Map<string, string>): string[] {
  return p.runs.map((s) => byTask.get(s.taskId) ?? "?");
}

describe("scheduling: the queue", () => {
  it("dispatches by priority under contention (highest first, then oldest)", async () => {
    const h = await start({ priorityAgingMs: 86_400_000 });
    const p = await h.proplet("solo", { capabilities: { maxConcurrency: 1 } });
    await waitForProplet(h, p.id);
    const blocker = await createTask(h, { name: "blocker", start: true });
    await p.waitForStart(1);

    const byTask = new Map<string, string>([[blocker.id, "blocker"]]);
    for (const [name, priority] of [["p10", 10], ["p90", 90], ["p50a", 50], ["p30", 30], ["p50b", 50], ["p100", 100]] as const) {
      const t = await createTask(h, { name, priority, start: true });
      expect(t.priority).toBe(priority);
      byTask.set(t.id, name);
    }
    // One slot: each result frees it for the next in queue order.
    for (let i = 1; i <= 6; i++) {
      await p.result(p.runs[i - 1]!);
      await p.waitForStart(i + 1);
    }
    expect(namesOf(p, byTask)).toEqual(["blocker", "p100", "p90", "p50a", "p50b", "p30", "p10"]);
  });

  it("ages waiting runs: a low priority that waited past the bound goes before fresher high priorities", async () => {
    // One point per 100 ms: a priority-0 run that waited 1.5 s ranks at ≥ 15.
    const h = await start({ priorityAgingMs: 100 });
    const p = await h.proplet("solo", { capabilities: { maxConcurrency: 1 } });
    await waitForProplet(h, p.id);
    const blocker = await createTask(h, { name: "blocker", start: true });
    await p.waitForStart(1);
    const old = await createTask(h, { name: "old-low", priority: 0, start: true });
    await new Promise((r) => setTimeout(r, 1500));
    const fresh = await createTask(h, { name: "fresh-10", priority: 10, start: true });
    await p.result(p.runs[0]!);
    await p.waitForStart(2);
    await p.result(p.runs[1]!);
    await p.waitForStart(3);
    expect(p.runs.map((s) => s.taskId)).toEqual([blocker.id, old.id, fresh.id]);
  });

  it("waits while no proplet is live, with the reason, and runs when one appears", async () => {
    const h = await start();
    const task = await createTask(h, { name: "early", start: true });
    const waiting = await waitForTask(h, task.id, (t) => /no proplet is live/.test(t.pendingReason ?? ""), "no-proplet reason");
    expect(waiting.state).toBe("pending");

    const p = await h.proplet("late");
    const s = await p.waitForStart(1);
    expect(s.taskId).toBe(task.id);
    await p.result(s, { stdout: "done" });
    const done = await waitForTask(h, task.id, (t) => t.state === "completed", "completed");
    expect(done.latestRun.result.stdout).toBe("done");
  });

  it("places only where tags fit and free memory suffices, and waits otherwise", async () => {
    const h = await start();
    const mib = 1024 * 1024;
    const plain = await h.proplet("plain", { capabilities: { tags: [], memoryBytes: 1024 * mib } });
    const gpu = await h.proplet("gpu", { capabilities: { tags: ["gpu"], memoryBytes: 100 * mib, maxConcurrency: 4 } });
    await waitForProplet(h, plain.id);
    await waitForProplet(h, gpu.id);

    const first = await createTask(h, { name: "gpu-1", requirements: { tags: ["gpu"] }, limits: { memoryBytes: 60 * mib }, start: true });
    await gpu.waitForStart(1);
    // 60 MiB of gpu's 100 MiB are reserved: a second 60 MiB task waits, though a slot is free.
    const second = await createTask(h, { name: "gpu-2", requirements: { tags: ["gpu"] }, limits: { memoryBytes: 60 * mib }, start: true });
    const waiting = await waitForTask(h, second.id, (t) => /free memory/.test(t.pendingReason ?? ""), "memory reason");
    expect(waiting.state).toBe("pending");
    expect(plain.runs).toHaveLength(0);
    // A small one still fits beside the first.
    const small = await createTask(h, { name: "gpu-small", requirements: { tags: ["gpu"] }, limits: { memoryBytes: 30 * mib }, start: true });
    await gpu.waitForStart(2);
    expect(gpu.runs[1]!.taskId).toBe(small.id);

    await gpu.result(gpu.runs[0]!);
    await gpu.waitForStart(3);
    expect(gpu.runs[2]!.taskId).toBe(second.id);
    expect((await getTask(h, first.id)).state).toBe("completed");
    expect(plain.runs).toHaveLength(0);
  });

  it("is not blocked by more than a page of queued runs that fit nowhere", async () => {
    const h = await start();
    const p = await h.proplet("plain-only");
    await waitForProplet(h, p.id);
    // 520 high-priority runs needing a GPU nobody has, ahead of one that fits (one pass claims 500 at a time).
    for (let i = 0; i < 520; i += 40) {
      await Promise.all(Array.from({ length: Math.min(40, 520 - i) }, (_, j) => createTask(h, { name: `gpu-${i + j}`, priority: 100, requirements: { tags: ["gpu"] }, start: true })));
    }
    const fits = await createTask(h, { name: "fits", priority: 0, start: true });
    const s = await p.waitForStart(1, 15_000);
    expect(s.taskId).toBe(fits.id);
  });

  it("packs: fills one proplet before the next when placement is pack", async () => {
    const h = await start({ placement: "pack" });
    const a = await h.proplet("pack-a", { capabilities: { maxConcurrency: 3 } });
    const b = await h.proplet("pack-b", { capabilities: { maxConcurrency: 3 } });
    await waitForProplet(h, a.id);
    await waitForProplet(h, b.id);
    for (let i = 0; i < 4; i++) {
      await createTask(h, { name: `t${i}`, start: true });
      await waitFor(() => a.runs.length + b.runs.length === i + 1, 10_000, `run ${i} placed`);
    }
    expect(a.runs).toHaveLength(3);
    expect(b.runs).toHaveLength(1);
  });
});

describe("scheduling: retries and proplet loss", () => {
  it("retries a failed task with exponential backoff, up to maxAttempts runs", async () => {
    const h = await start();
    const p = await h.proplet("flaky");
    await waitForProplet(h, p.id);
    const task = await createTask(h, { name: "flaky", retry: { maxAttempts: 3, backoffMs: 400 }, start: true });
    expect(task.retry).toEqual({ maxAttempts: 3, backoffMs: 400, maxBackoffMs: 300_000 });

    const gaps: number[] = [];
    for (let i = 1; i <= 3; i++) {
      const s = await p.waitForStart(i);
      const failedAt = Date.now();
      await p.result(s, { outcome: "failed", exitCode: 1, error: { code: "trap", message: `boom ${i}` } });
      if (i < 3) {
        await p.waitForStart(i + 1);
        gaps.push(Date.now() - failedAt);
      }
    }
    // 400 ms, then 800 ms (doubled); never sooner.
    expect(gaps[0]).toBeGreaterThanOrEqual(400);
    expect(gaps[1]).toBeGreaterThanOrEqual(800);
    const done = await waitForTask(h, task.id, (t) => t.state === "failed" && t.latestRun.attempt === 3, "failed after 3 tries");
    expect(done.latestRun.result.error.message).toBe("boom 3");
    await new Promise((r) => setTimeout(r, 1500));
    expect(p.runs).toHaveLength(3);
    const runs = await h.api<{ items: Array<{ state: string }> }>("GET", `/tasks/${task.id}/runs`);
    expect(runs.body.items.map((r) => r.state)).toEqual(["failed", "failed", "failed"]);
  });

  it("does not retry a success, nor a stop", async () => {
    const h = await start();
    const p = await h.proplet("fine");
    await waitForProplet(h, p.id);
    const ok = await createTask(h, { name: "ok", retry: { maxAttempts: 3, backoffMs: 50 }, start: true });
    await p.result(await p.waitForStart(1));
    await waitForTask(h, ok.id, (t) => t.state === "completed", "completed");
    const stopped = await createTask(h, { name: "stopped", retry: { maxAttempts: 3, backoffMs: 50 }, start: true });
    await p.waitForStart(2);
    expect((await h.api("POST", `/tasks/${stopped.id}/stop`)).status).toBe(202);
    await new Promise((r) => setTimeout(r, 1200));
    expect(p.runs).toHaveLength(2);
    expect((await getTask(h, stopped.id)).state).toBe("stopped");
  });

  it("reschedules a run whose proplet dies mid-run on another proplet (onPropletLoss: reschedule)", async () => {
    const h = await start();
    const a = await h.proplet("loss-a");
    const b = await h.proplet("loss-b");
    await waitForProplet(h, a.id);
    await waitForProplet(h, b.id);
    const task = await createTask(h, { name: "survivor", onPropletLoss: "reschedule", target: null, start: true });
    const doomed = a.runs.length ? a : await waitFor(() => (a.runs.length ? a : b.runs.length ? b : null), 10_000, "first run");
    const other = doomed === a ? b : a;
    await doomed.waitForStart(1);
    await waitForTask(h, task.id, (t) => t.state === "running", "running");
    await doomed.crash();

    const s = await other.waitForStart(1);
    expect(s.taskId).toBe(task.id);
    await other.result(s, { stdout: "second home" });
    const done = await waitForTask(h, task.id, (t) => t.state === "completed", "completed elsewhere");
    expect(done.latestRun.attempt).toBe(2);
    expect(done.latestRun.propletId).toBe(other.id);
    const runs = await h.api<{ items: Array<{ state: string; result: { error: { code: string } | null } }> }>("GET", `/tasks/${task.id}/runs`);
    expect(runs.body.items.map((r) => r.state)).toEqual(["completed", "failed"]);
    expect(runs.body.items[1]!.result.error!.code).toBe("proplet_lost");
  });

  it("fails (no new run) when the task's policy is fail", async () => {
    const h = await start();
    const a = await h.proplet("fail-a");
    const b = await h.proplet("fail-b", { capabilities: { tags: ["elsewhere"] } });
    await waitForProplet(h, a.id);
    await waitForProplet(h, b.id);
    const task = await createTask(h, { name: "fragile", onPropletLoss: "fail", target: "fail-a", start: true });
    await a.waitForStart(1);
    await waitForTask(h, task.id, (t) => t.state === "running", "running");
    await a.crash();
    const done = await waitForTask(h, task.id, (t) => t.state === "failed", "failed");
    expect(done.latestRun.result.error.code).toBe("proplet_lost");
    await new Promise((r) => setTimeout(r, 1000));
    expect(b.runs).toHaveLength(0);
  });
});

describe("scheduling: broadcast", () => {
  it("fans out one run to each of 3 matching proplets and aggregates their results", async () => {
    const h = await start();
    const edges = await Promise.all(["edge-1", "edge-2", "edge-3"].map((id) => h.proplet(id, { capabilities: { tags: ["edge"] } })));
    const core = await h.proplet("core-1");
    for (const p of [...edges, core]) await waitForProplet(h, p.id);

    const bad = await h.api("POST", "/tasks", { name: "both", artifact: { digest: "sha256:" + "0".repeat(64), url: "http://127.0.0.1/x.wasm" }, broadcast: true, target: "edge-1" });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/broadcast/);

    const task = await createTask(h, { name: "everywhere", broadcast: true, requirements: { tags: ["edge"] }, start: true });
    const starts = await Promise.all(edges.map((p) => p.waitForStart(1)));
    expect(new Set(starts.map((s) => s.runId)).size).toBe(3);
    await new Promise((r) => setTimeout(r, 300));
    expect(core.runs).toHaveLength(0);

    await edges[0]!.result(starts[0]!, { stdout: "one" });
    await edges[1]!.result(starts[1]!, { stdout: "two" });
    const partial = await waitFor(async () => {
      const r = await h.api<{ counts: { completed: number } }>("GET", `/tasks/${task.id}/broadcast`);
      return r.body.counts.completed === 2 ? r.body : null;
    }, 10_000, "two completed");
    expect(partial).toMatchObject({ total: 3, state: "running", counts: { running: 1 } });
    expect((await getTask(h, task.id)).state).toBe("running");

    await edges[2]!.result(starts[2]!, { stdout: "three" });
    const done = await waitForTask(h, task.id, (t) => t.state === "completed", "all completed");
    expect(done.broadcast).toBe(true);
    const agg = await h.api<{ state: string; total: number; counts: Record<string, number>; runs: Array<{ propletId: string; result: { stdout: string } }> }>(
      "GET",
      `/tasks/${task.id}/broadcast`,
    );
    expect(agg.body).toMatchObject({ state: "completed", total: 3, counts: { completed: 3, failed: 0 } });
    expect(Object.fromEntries(agg.body.runs.map((r) => [r.propletId, r.result.stdout]))).toEqual({ "edge-1": "one", "edge-2": "two", "edge-3": "three" });

    // Started again: a new fan-out; one failure fails the aggregate.
    expect((await h.api("POST", `/tasks/${task.id}/start`)).status).toBe(202);
    const again = await Promise.all(edges.map((p) => p.waitForStart(2)));
    await edges[0]!.result(again[0]!);
    await edges[1]!.result(again[1]!, { outcome: "failed", exitCode: 3, error: { code: "exit", message: "exit 3" } });
    await edges[2]!.result(again[2]!);
    await waitForTask(h, task.id, (t) => t.state === "failed", "aggregate failed");
    const agg2 = await h.api<{ total: number; counts: Record<string, number> }>("GET", `/tasks/${task.id}/broadcast`);
    expect(agg2.body).toMatchObject({ total: 3, counts: { completed: 2, failed: 1 } });
    expect((await h.api<{ items: unknown[] }>("GET", `/tasks/${task.id}/runs`)).body.items).toHaveLength(6);
  });

  it("refuses to start a broadcast that no live proplet fits, and stops every run of a fan-out", async () => {
    const h = await start();
    const a = await h.proplet("bc-a");
    const b = await h.proplet("bc-b");
    await waitForProplet(h, a.id);
    await waitForProplet(h, b.id);
    const nowhere = await createTask(h, { name: "nowhere", broadcast: true, requirements: { tags: ["mars"] } });
    const refused = await h.api("POST", `/tasks/${nowhere.id}/start`);
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe("no_matching_proplet");

    const both = await createTask(h, { name: "both", broadcast: true, start: true });
    await a.waitForStart(1);
    await b.waitForStart(1);
    await waitForTask(h, both.id, (t) => t.state === "running", "running");
    expect((await h.api("POST", `/tasks/${both.id}/stop`)).status).toBe(202);
    await waitFor(() => a.stops.length === 1 && b.stops.length === 1, 5000, "both told to stop");
    expect((await getTask(h, both.id)).state).toBe("stopped");
  });
});

describe("scheduling on the embedded deployment (aedes + PGlite)", () => {
  it("orders by priority, retries, broadcasts, ticks cron and runs a workflow on PGlite too", async () => {
    backing = await startBacking("embedded");
    h = await startHarness(backing, { ackTimeoutMs: 30_000, reconcileGraceMs: 1000, priorityAgingMs: 86_400_000 });
    const p = await h.proplet("lite", { capabilities: { maxConcurrency: 1 } });
    const q = await h.proplet("lite-2", { capabilities: { tags: ["other"] } });
    await waitForProplet(h, p.id);
    await waitForProplet(h, q.id);

    const blocker = await createTask(h, { name: "blocker", target: "lite", start: true });
    await p.waitForStart(1);
    const low = await createTask(h, { name: "low", priority: 1, target: "lite", start: true });
    const high = await createTask(h, { name: "high", priority: 99, target: "lite", retry: { maxAttempts: 2, backoffMs: 100 }, start: true });
    await p.result(p.runs[0]!);
    await p.waitForStart(2);
    expect(p.runs[1]!.taskId).toBe(high.id);
    await p.result(p.runs[1]!, { outcome: "failed", exitCode: 1 });
    await p.waitForStart(3);
    // The retry waits out its backoff: meanwhile the free slot goes to the waiting priority-1 task.
    expect(p.runs[2]!.taskId).toBe(low.id);
    await p.result(p.runs[2]!);
    await p.waitForStart(4);
    expect(p.runs[3]!.taskId).toBe(high.id);
    expect(p.runs[3]!.attempt).toBe(2);
    await p.result(p.runs[3]!);
    await waitForTask(h, high.id, (t) => t.state === "completed", "retry completed");
    expect((await getTask(h, blocker.id)).state).toBe("completed");

    const bc = await createTask(h, { name: "all", broadcast: true, start: true });
    const [a, b] = [await p.waitForStart(5), await q.waitForStart(1)];
    await p.result(a);
    await q.result(b);
    await waitForTask(h, bc.id, (t) => t.state === "completed", "broadcast completed");

    const wf = await h.api<{ id: string }>("POST", "/workflows", {
      name: "lite-flow",
      nodes: [
        { name: "x", task: { artifact: ARTIFACT, target: "lite-2" } },
        { name: "y", task: { artifact: ARTIFACT, target: "lite-2" }, dependsOn: ["x"] },
      ],
      start: true,
    });
    expect(wf.status).toBe(201);
    await q.result(await q.waitForStart(2), { stdout: "x" });
    await q.result(await q.waitForStart(3));
    await waitFor(async () => (await h!.api<{ state: string }>("GET", `/workflows/${wf.body.id}`)).body.state === "completed", 10_000, "workflow completed");

    const cron = await createTask(h, { name: "tick", target: "lite-2", schedule: { cron: "* * * * * *" } });
    const tick = await q.waitForStart(4, 5000);
    expect(tick.taskId).toBe(cron.id);
  });
});
