/**
 * Scheduling end to end (issue 7): the real manager on the machine's Mosquitto and a fresh
 * PostgreSQL database, with scripted proplets (real MQTT clients speaking the proplet protocol).
 *   a. the queue: priority order under contention, aging past a bound, waiting for a proplet,
 *      constraints (tags, free memory), pack placement;
 *   b. retries with backoff, rescheduling when a proplet dies mid-run;
 *   c. broadcast to 3 proplets with an aggregated result.
 */
import { afterEach, describe, expect, it } from "vitest";
import { waitFor } from "../../testing/net.js";
import {
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
  h = await startHarness(backing, { ackTimeoutMs: 30_000, ...overrides });
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
