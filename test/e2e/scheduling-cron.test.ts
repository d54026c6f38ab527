/**
 * Cron end to end: the real manager on Mosquitto + a fresh PostgreSQL database,
 * scripted proplets. Schedules with seconds (6 fields) keep the test short. A manager is stopped
 * while a tick passes and a new manager process' worth of manager starts on the same database: the
 * missed tick runs once or is skipped per task.
 */
import { afterAll, describe, expect, it } from "vitest";
import { waitFor } from "../../testing/net.js";
import { ARTIFACT, api, createTask, startBacking, startHarness, waitForProplet, type Backing, type Harness } from "../../manager/test/helpers.js";
import { startManager, type RunningManager } from "../../manager/index.js";

let backing: Backing | undefined;
let h: Harness | undefined;
let restarted: RunningManager | undefined;

afterAll(async () => {
  await restarted?.close();
  await h?.close();
  await backing?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A 6-field expression firing at the given seconds of every minute. */
function atSeconds(...dates: Date[]): string {
  return `${[...new Set(dates.map((d) => d.getUTCSeconds()))].join(",")} * * * * *`;
}

describe("scheduling: cron", () => {
  it("refuses bad expressions and time zones, and reads the expression in the task's time zone", async () => {
    backing = await startBacking("services");
    h = await startHarness(backing, { ackTimeoutMs: 30_000, reconcileGraceMs: 1000, cronMisfireMs: 1000 });
    for (const schedule of [{ cron: "* * * *" }, { cron: "61 * * * *" }, { cron: "0 9 * * *", timeZone: "Mars/Olympus" }]) {
      const res = await h.api("POST", "/tasks", { name: "bad", artifact: ARTIFACT, schedule });
      expect(res.status).toBe(400);
    }
    const bad = await h.api("POST", "/tasks", { name: "bad", artifact: { digest: `sha256:${"0".repeat(64)}`, url: "http://127.0.0.1/x.wasm" }, schedule: { cron: "61 * * * *" } });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe("invalid_schedule");

    const paris = await createTask(h, { name: "nine-in-paris", schedule: { cron: "0 9 * * *", timeZone: "Europe/Paris" } });
    const state = await h.api<{ nextTickAt: string; schedule: { timeZone: string; missed: string } }>("GET", `/tasks/${paris.id}/schedule`);
    expect(state.status).toBe(200);
    expect(state.body.schedule).toEqual({ cron: "0 9 * * *", timeZone: "Europe/Paris", missed: "skip" });
    // 09:00 in Paris is 08:00 UTC in winter (CET) and 07:00 UTC in summer (CEST).
    const next = new Date(state.body.nextTickAt);
    const offsetHours = new Date(next.toLocaleString("en-US", { timeZone: "Europe/Paris" })).getHours() - next.getUTCHours();
    expect(next.getUTCHours() + offsetHours).toBe(9);
    expect(next.getTime()).toBeGreaterThan(Date.now());
    expect(next.getTime() - Date.now()).toBeLessThanOrEqual(24 * 3600 * 1000);
    // Removing the schedule stops the ticks.
    expect((await h.api("PATCH", `/tasks/${paris.id}`, { schedule: null })).status).toBe(200);
    expect((await h.api<{ nextTickAt: null }>("GET", `/tasks/${paris.id}/schedule`)).body.nextTickAt).toBeNull();
  });

  it("runs every tick as a new run, and across a manager restart runs a missed tick once or skips it per task", async () => {
    const p = await h!.proplet("cron-worker", { capabilities: { maxConcurrency: 10 } });
    await waitForProplet(h!, p.id);
    // Answer every run at once, as a quick workload would.
    const answered = new Set<string>();
    const answer = setInterval(() => {
      for (const s of p.runs) {
        if (answered.has(s.runId)) continue;
        answered.add(s.runId);
        void p.result(s, { stdout: s.taskId }).catch(() => undefined);
      }
    }, 50);
    try {
      const t0 = Date.now();
      const first = new Date(t0 + 3000);
      const second = new Date(t0 + 10_000);
      const cron = atSeconds(first, second);
      const once = await createTask(h!, { name: "once", schedule: { cron, timeZone: "Asia/Kolkata", missed: "run-once" } });
      const skip = await createTask(h!, { name: "skip", schedule: { cron, timeZone: "Asia/Kolkata", missed: "skip" } });
      const runsOf = (base: string, id: string) => api<{ items: Array<{ state: string; createdAt: string }> }>(base, "GET", `/tasks/${id}/runs`).then((r) => r.body.items);

      // The first tick: one new run each, on time.
      await waitFor(async () => (await runsOf(h!.manager.url, once.id)).length === 1 && (await runsOf(h!.manager.url, skip.id)).length === 1, 10_000, "first tick");
      const firstRun = (await runsOf(h!.manager.url, once.id))[0]!;
      expect(Math.abs(new Date(firstRun.createdAt).getTime() - first.getTime())).toBeLessThan(1500);

      // Both first runs finished before the manager goes (a tick while a run is open is skipped).
      await waitFor(async () => {
        const all = [...(await runsOf(h!.manager.url, once.id)), ...(await runsOf(h!.manager.url, skip.id))];
        return all.every((r) => r.state === "completed");
      }, 10_000, "first runs completed");
      expect(Date.now()).toBeLessThan(second.getTime() - 500);
      // Down across the second tick; back 3 s after it (past cronMisfireMs = 1000).
      await h!.manager.close();
      await sleep(Math.max(0, second.getTime() + 3000 - Date.now()));
      const back = Date.now();
      restarted = await startManager({ ...h!.config, http: { port: 0 } });

      await waitFor(async () => (await runsOf(restarted!.url, once.id)).length === 2, 10_000, "missed tick run once");
      const onceRuns = await runsOf(restarted.url, once.id);
      expect(new Date(onceRuns[0]!.createdAt).getTime()).toBeGreaterThanOrEqual(back);
      await waitFor(async () => (await runsOf(restarted!.url, once.id)).every((r) => r.state === "completed"), 10_000, "runs completed");
      await sleep(2000);
      // run-once: exactly one run for the missed tick; skip: none; nothing else is due this minute.
      expect(await runsOf(restarted.url, once.id)).toHaveLength(2);
      expect(await runsOf(restarted.url, skip.id)).toHaveLength(1);
      const next = await api<{ nextTickAt: string }>(restarted.url, "GET", `/tasks/${skip.id}/schedule`);
      expect(new Date(next.body.nextTickAt).getTime()).toBeGreaterThan(Date.now());
    } finally {
      clearInterval(answer);
    }
  });
});
