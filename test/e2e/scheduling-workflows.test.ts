/**
 * Workflows and jobs end to end: the real manager on Mosquitto + a fresh
 * PostgreSQL database, scripted proplets answering as a workload would: args ["ok", label] prints
 * `label<stdin>` and succeeds, args ["fail"] fails.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { TaskStart } from "../../protocol/index.js";
import { waitFor } from "../../testing/net.js";
import { startManager } from "../../manager/index.js";
import { ARTIFACT, api, startBacking, startHarness, waitForProplet, type Backing, type Harness, type ScriptedProplet } from "../../manager/test/helpers.js";
import type { Workflow as WorkflowView } from "../../protocol/api/index.js";

let backing: Backing | undefined;
let h: Harness | undefined;
const answering: Array<() => void> = [];

async function start(): Promise<Harness> {
  backing = await startBacking("services");
  h = await startHarness(backing, { ackTimeoutMs: 30_000, reconcileGraceMs: 1000 });
  return h;
}

afterEach(async () => {
  for (const stop of answering.splice(0)) stop();
  await h?.close();
  await backing?.close();
  h = undefined;
  backing = undefined;
});

/** Answers every run the proplet receives (unless `hold` says to keep it running). */
function answer(p: ScriptedProplet, hold: (s: TaskStart) => boolean = () => false): void {
  const done = new Set<string>();
  const timer = setInterval(() => {
    for (const s of p.runs) {
      if (done.has(s.runId) || hold(s)) continue;
      done.add(s.runId);
      const stdin = Buffer.from(s.stdin ?? "", "base64").toString("utf8");
      const reply =
        s.args[0] === "fail"
          ? { outcome: "failed" as const, exitCode: 1, error: { code: "exit", message: "asked to fail" } }
          : { stdout: `${s.args[1]}<${stdin}>` };
      void p.result(s, reply).catch(() => undefined);
    }
  }, 30);
  answering.push(() => clearInterval(timer));
}

const task = (...args: string[]) => ({ artifact: ARTIFACT, args });


async function waitForWorkflow(h: Harness, path: string, states: string[]): Promise<WorkflowView> {
  return waitFor(async () => {
    const r = await h.api<WorkflowView>("GET", path);
    return states.includes(r.body.state) ? r.body : null;
  }, 20_000, `${path} to be ${states.join("/")}`);
}

const nodeStates = (w: WorkflowView) => Object.fromEntries(w.nodes.map((n) => [n.name, n.state]));

describe("scheduling: workflows", () => {
  it("runs a diamond DAG with one failing branch: results passed on, run_if and on_failure honoured", async () => {
    const h = await start();
    const p = await h.proplet("wf-worker", { capabilities: { maxConcurrency: 8 } });
    await waitForProplet(h, p.id);
    answer(p);
    const created = await h.api<WorkflowView>("POST", "/workflows", {
      name: "diamond",
      nodes: [
        { name: "a", task: task("ok", "a") },
        { name: "b", task: task("ok", "b"), dependsOn: ["a"], passResults: "stdin" },
        { name: "c", task: task("fail"), dependsOn: ["a"], onFailure: "fail-dependants" },
        { name: "d", task: task("ok", "d"), dependsOn: ["b", "c"] },
        { name: "e", task: task("ok", "e"), dependsOn: ["b", "c"], runIf: "always", passResults: "args" },
        { name: "f", task: task("ok", "f"), dependsOn: ["c"], runIf: "failure" },
        { name: "g", task: task("ok", "g"), dependsOn: ["b"], runIf: "failure" },
      ],
    });
    expect(created.status).toBe(201);
    expect(created.body.state).toBe("created");
    await new Promise((r) => setTimeout(r, 300));
    expect(p.runs).toHaveLength(0); // created, not started

    expect((await h.api("POST", `/workflows/${created.body.id}/start`)).status).toBe(202);
    const done = await waitForWorkflow(h, `/workflows/${created.body.id}`, ["completed", "failed"]);
    expect(done.state).toBe("failed");
    expect(done.reason).toMatch(/"c" failed/);
    expect(nodeStates(done)).toEqual({ a: "completed", b: "completed", c: "failed", d: "failed", e: "completed", f: "completed", g: "skipped" });
    expect(done.nodes.find((n) => n.name === "d")!.reason).toMatch(/dependency "c" failed/);

    const startOf = (node: string) => p.runs.find((s) => s.taskId === done.nodes.find((n) => n.name === node)!.taskId)!;
    // a's output became b's stdin; b's output and c's (empty) output became e's arguments.
    expect(Buffer.from(startOf("b").stdin ?? "", "base64").toString()).toBe("a<>");
    expect(startOf("e").args).toEqual(["ok", "e", "b<a<>>", ""]);
    // d and g never ran; parents always ran before children.
    expect(p.runs).toHaveLength(5);
    const order = p.runs.map((s) => done.nodes.find((n) => n.taskId === s.taskId)!.name);
    expect(order.indexOf("a")).toBe(0);
    expect(order.indexOf("e")).toBeGreaterThan(order.indexOf("b"));
    expect(order.indexOf("f")).toBeGreaterThan(order.indexOf("c"));

    const list = await h.api<{ items: WorkflowView[] }>("GET", "/workflows?state=failed");
    expect(list.body.items.map((w) => w.id)).toEqual([created.body.id]);
    expect((await h.api("POST", `/workflows/${created.body.id}/start`)).status).toBe(409);
  });

  it("rejects a cycle at submission, creating nothing", async () => {
    const h = await start();
    const before = (await h.api<{ items: unknown[] }>("GET", "/tasks")).body.items.length;
    const cyc = await h.api<{ code: string; message: string }>("POST", "/workflows", {
      name: "loop",
      nodes: [
        { name: "a", task: task("ok", "a"), dependsOn: ["c"] },
        { name: "b", task: task("ok", "b"), dependsOn: ["a"] },
        { name: "c", task: task("ok", "c"), dependsOn: ["b"] },
        { name: "d", task: task("ok", "d") },
      ],
      start: true,
    });
    expect(cyc.status).toBe(400);
    expect(cyc.body.code).toBe("workflow_cycle");
    // Named along "depends on": a needs c, c needs b, b needs a.
    expect(cyc.body.message).toMatch(/a → c → b → a|c → b → a → c|b → a → c → b/);
    expect(cyc.body.message).not.toMatch(/\bd\b/);
    const unknown = await h.api<{ code: string }>("POST", "/workflows", { name: "x", nodes: [{ name: "a", task: task(), dependsOn: ["zz"] }] });
    expect(unknown.status).toBe(400);
    expect((await h.api<{ items: unknown[] }>("GET", "/tasks")).body.items.length).toBe(before);
    expect((await h.api<{ items: unknown[] }>("GET", "/workflows")).body.items).toHaveLength(0);
  });

  it("survives a proplet dying mid-workflow: the node is rescheduled and the workflow completes", async () => {
    const h = await start();
    const doomed = await h.proplet("wf-a", { capabilities: { tags: ["first"] } });
    const spare = await h.proplet("wf-b");
    await waitForProplet(h, doomed.id);
    await waitForProplet(h, spare.id);
    answer(spare);
    // doomed never answers: its run is lost with it.
    const created = await h.api<WorkflowView>("POST", "/workflows", {
      name: "resilient",
      nodes: [
        { name: "first", task: { ...task("ok", "first"), target: "wf-b" } },
        { name: "second", task: { ...task("ok", "second"), target: null, onPropletLoss: "reschedule" }, dependsOn: ["first"], passResults: "stdin" },
        { name: "third", task: task("ok", "third"), dependsOn: ["second"], passResults: "stdin" },
      ],
      start: true,
    });
    expect(created.status).toBe(201);
    // "second" is placed by spread on the idle proplet: the one that will die.
    const lost = await doomed.waitForStart(1);
    const running = await waitForWorkflow(h, `/workflows/${created.body.id}`, ["running"]);
    expect(nodeStates(running).second).toBe("running");
    await doomed.crash();
    const done = await waitForWorkflow(h, `/workflows/${created.body.id}`, ["completed", "failed"]);
    expect(done.state).toBe("completed");
    const third = spare.runs.find((s) => s.taskId === done.nodes.find((n) => n.name === "third")!.taskId)!;
    expect(Buffer.from(third.stdin ?? "", "base64").toString()).toBe("second<first<>>");
    const runs = await h.api<{ items: Array<{ state: string; propletId: string }> }>("GET", `/tasks/${lost.taskId}/runs`);
    expect(runs.body.items.map((r) => [r.state, r.propletId])).toEqual([["completed", "wf-b"], ["failed", "wf-a"]]);
  });

  it("stops a workflow: waiting nodes end stopped and running tasks are told to stop", async () => {
    const h = await start();
    const p = await h.proplet("wf-stop");
    await waitForProplet(h, p.id);
    const created = await h.api<WorkflowView>("POST", "/workflows", {
      name: "halt",
      nodes: [{ name: "long", task: task("ok", "long") }, { name: "after", task: task("ok", "after"), dependsOn: ["long"] }],
      start: true,
    });
    await p.waitForStart(1);
    await waitForWorkflow(h, `/workflows/${created.body.id}`, ["running"]);
    const stopped = await h.api<WorkflowView>("POST", `/workflows/${created.body.id}/stop`);
    expect(stopped.status).toBe(202);
    expect(stopped.body.state).toBe("stopped");
    expect(nodeStates(stopped.body)).toEqual({ long: "stopped", after: "stopped" });
    await waitFor(() => p.stops.length === 1, 5000, "task.stop sent");
  });
});

describe("scheduling: workflows across a manager restart", () => {
  it("a workflow started by one manager is finished by the next on the same database", async () => {
    const h = await start();
    const p = await h.proplet("wf-restart");
    await waitForProplet(h, p.id);
    const created = await h.api<WorkflowView>("POST", "/workflows", {
      name: "persistent",
      nodes: [{ name: "first", task: task("ok", "first") }, { name: "second", task: task("ok", "second"), dependsOn: ["first"], passResults: "stdin" }],
      start: true,
    });
    const first = await p.waitForStart(1);
    await waitForWorkflow(h, `/workflows/${created.body.id}`, ["running"]);
    await h.manager.close();
    const again = await startManager({ ...h.config, http: { port: 0 } });
    try {
      // The proplet still holds "first" (it lists it in its heartbeats) and now finishes it.
      await new Promise((r) => setTimeout(r, 500));
      await p.result(first, { stdout: "one" });
      const second = await p.waitForStart(2, 15_000);
      expect(Buffer.from(second.stdin ?? "", "base64").toString()).toBe("one");
      await p.result(second);
      const done = await waitFor(async () => {
        const r = await api<WorkflowView>(again.url, "GET", `/workflows/${created.body.id}`);
        return r.body.state === "completed" ? r.body : null;
      }, 15_000, "completed after the restart");
      expect(nodeStates(done)).toEqual({ first: "completed", second: "completed" });
    } finally {
      await again.close();
    }
  });
});

describe("scheduling: jobs", () => {
  it("runs a sequential job one task after another, and skips the rest after a failure", async () => {
    const h = await start();
    const p = await h.proplet("job-worker", { capabilities: { maxConcurrency: 8 } });
    await waitForProplet(h, p.id);
    // Each task is held 200 ms, so an overlap would show.
    const seenAt = new Map<string, number>();
    answer(p, (s) => {
      if (!seenAt.has(s.runId)) seenAt.set(s.runId, Date.now());
      return Date.now() - seenAt.get(s.runId)! < 200;
    });
    const job = await h.api<WorkflowView & { mode: string }>("POST", "/jobs", {
      name: "pipeline",
      mode: "sequential",
      tasks: [
        { name: "one", task: task("ok", "1") },
        { name: "two", task: task("ok", "2") },
        { name: "three", task: task("ok", "3") },
      ],
      start: true,
    });
    expect(job.status).toBe(201);
    expect(job.body.mode).toBe("sequential");
    const done = await waitForWorkflow(h, `/jobs/${job.body.id}`, ["completed", "failed"]);
    expect(done.state).toBe("completed");
    const ids = done.nodes.map((n) => n.taskId);
    expect(p.runs.map((s) => s.taskId)).toEqual(ids);
    // Strictly one after another: each started after the previous finished.
    for (let i = 1; i < 3; i++) {
      const prevStart = seenAt.get(p.runs[i - 1]!.runId)!;
      expect(seenAt.get(p.runs[i]!.runId)! - prevStart).toBeGreaterThanOrEqual(200);
    }

    const failing = await h.api<WorkflowView>("POST", "/jobs", {
      name: "broken",
      mode: "sequential",
      tasks: [{ name: "one", task: task("ok", "1") }, { name: "two", task: task("fail") }, { name: "three", task: task("ok", "3") }],
      start: true,
    });
    const failed = await waitForWorkflow(h, `/jobs/${failing.body.id}`, ["completed", "failed"]);
    expect(failed.state).toBe("failed");
    expect(nodeStates(failed)).toEqual({ one: "completed", two: "failed", three: "skipped" });
    const jobs = await h.api<{ items: unknown[] }>("GET", "/jobs");
    expect(jobs.body.items).toHaveLength(2);
    expect((await h.api<{ items: unknown[] }>("GET", "/workflows")).body.items).toHaveLength(0);
  });

  it("runs a parallel job's tasks at the same time", async () => {
    const h = await start();
    const p = await h.proplet("par-worker", { capabilities: { maxConcurrency: 8 } });
    await waitForProplet(h, p.id);
    const job = await h.api<WorkflowView>("POST", "/jobs", {
      name: "fan",
      mode: "parallel",
      tasks: [1, 2, 3, 4].map((i) => ({ name: `t${i}`, task: task("ok", String(i)) })),
      start: true,
    });
    expect(job.status).toBe(201);
    // All four are dispatched before any has finished.
    await waitFor(() => p.runs.length === 4, 10_000, "four runs at once");
    answer(p);
    const done = await waitForWorkflow(h, `/jobs/${job.body.id}`, ["completed", "failed"]);
    expect(done.state).toBe("completed");
  });
});
