/**
 * Restarts: the manager (close + startManager again on the same PostgreSQL database, and on the
 * same PGlite data folder) and the broker (a private Mosquitto stopped and started mid-run).
 */
import { createServer, connect, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createTestDatabase } from "../../testing/postgres.js";
import { TEST_MQTT_URL, startPrivateMosquitto } from "../../testing/mosquitto.js";
import { freePort, waitFor } from "../../testing/net.js";
import { startManager } from "../index.js";
import { createTask, getTask, startBacking, startHarness, waitForProplet, waitForTask, type Harness } from "./helpers.js";

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const GRACE_MS = 1500;

for (const deployment of ["services", "embedded"] as const) {
  describe(`manager restart (${deployment === "services" ? "PostgreSQL" : "PGlite data folder"})`, () => {
    it("keeps tasks, lets claimed runs finish under the same run id, and fails or requeues unclaimed ones", async () => {
      const backing = await startBacking(deployment, { persistent: true });
      cleanups.push(() => backing.close());
      const first = await startHarness(backing, { reconcileGraceMs: GRACE_MS, heartbeatTimeoutMs: 10_000 });
      let h: Harness = first;
      let firstClosed = false;
      cleanups.push(() => (firstClosed ? Promise.resolve() : first.close()));

      const keeper = await h.proplet("keeper", { capabilities: { tags: ["keeper"] } });
      const forgetful = await h.proplet("forgetful", { capabilities: { tags: ["forgetful"] } });
      const mover = await h.proplet("mover", { capabilities: { tags: ["mover"] } });
      for (const p of [keeper, forgetful, mover]) await waitForProplet(h, p.id);

      const done = await createTask(h, { name: "done-before", start: true, requirements: { tags: ["keeper"] } });
      await keeper.result(await keeper.waitForStart(1), { returnValues: [3], exitCode: null });
      await waitForTask(h, done.id, (t) => t.state === "completed", "done before restart");

      const kept = await createTask(h, { name: "kept", start: true, requirements: { tags: ["keeper"] } });
      const keptStart = await keeper.waitForStart(2);
      const dropped = await createTask(h, { name: "dropped", start: true, requirements: { tags: ["forgetful"] } });
      const droppedStart = await forgetful.waitForStart(1);
      const moved = await createTask(h, { name: "moved", start: true, onPropletLoss: "reschedule", requirements: { tags: ["mover"] } });
      const movedStart = await mover.waitForStart(1);
      for (const t of [kept, dropped, moved]) await waitForTask(h, t.id, (x) => x.state === "running", `${t.name} running`);
      const idle = await createTask(h, { name: "never-started" });

      // The manager goes away; its proplets carry on. Two of them "lose" their run meanwhile.
      const onlineBefore = keeper.managerOnline;
      await h.manager.close();
      firstClosed = true;
      forgetful.running = [];
      mover.running = [];

      const manager = await startManager(first.config);
      cleanups.push(() => manager.close());
      h = { ...first, manager, api: (m, p, b) => import("./helpers.js").then((x) => x.api(manager.url, m, p, b)) };

      // Every task survived.
      expect((await getTask(h, done.id)).latestRun.result.returnValues).toEqual([3]);
      expect((await getTask(h, idle.id)).state).toBe("pending");
      // manager.online went out; proplets re-announced with what they hold.
      await waitFor(() => keeper.managerOnline > onlineBefore, 10_000, "manager.online");

      // Unclaimed after the grace: failed (policy fail, and the proplet is told to stop) or requeued as attempt 2.
      const failed = await waitForTask(h, dropped.id, (t) => t.state === "failed", "unclaimed run failed", GRACE_MS * 6);
      expect(failed.latestRun.id).toBe(droppedStart.runId);
      expect(failed.latestRun.result.error.message).toBe(
        `run was not claimed by proplet ${forgetful.id} within ${GRACE_MS} ms after the manager restarted`,
      );
      await waitFor(() => forgetful.stops.some((s) => s.runId === droppedStart.runId), 5000, "stop for the unclaimed run");
      const again = await mover.waitForStart(2, GRACE_MS * 6);
      expect(again).toMatchObject({ taskId: moved.id, attempt: 2 });
      expect(again.runId).not.toBe(movedStart.runId);

      // Claimed by the re-announce: still running past the grace, and its result is stored under the same run id.
      const stillRunning = await getTask(h, kept.id);
      expect(stillRunning.state).toBe("running");
      expect(stillRunning.latestRun.id).toBe(keptStart.runId);
      await keeper.result(keptStart, { stdout: "after restart" });
      const finished = await waitForTask(h, kept.id, (t) => t.state === "completed", "claimed run completed");
      expect(finished.latestRun.id).toBe(keptStart.runId);
      expect(finished.latestRun.result.stdout).toBe("after restart");
      await waitFor(() => keeper.acks.some((a) => a.runId === keptStart.runId), 5000, "ack after restart");

      for (const p of [keeper, forgetful, mover]) await p.close();
    }, 240_000); // PGlite on disk opens slowly on a loaded machine, and this opens it twice
  });
}

describe("broker restart", () => {
  it("the manager resubscribes after the broker comes back and the run completes", async () => {
    const mosquitto = await startPrivateMosquitto();
    cleanups.push(() => mosquitto.dispose());
    const db = await createTestDatabase("manager_broker");
    cleanups.push(() => db.drop());
    // Heartbeat timeout shorter than the outage: silence while the manager cannot hear the broker is no proof of loss.
    const h = await startHarness({ mqttUrl: mosquitto.url, databaseUrl: db.url, close: async () => undefined }, { heartbeatTimeoutMs: 1500 });
    cleanups.push(() => h.close());
    const p = await h.proplet("survivor");
    await waitForProplet(h, p.id);

    const task = await createTask(h, { name: "across-restart", start: true });
    const start = await p.waitForStart();
    await waitForTask(h, task.id, (t) => t.state === "running", "running");

    const onlineBefore = p.managerOnline;
    await mosquitto.stop();
    await waitFor(async () => (await h.api("GET", "/health")).status === 503, 10_000, "health reports MQTT down");
    await new Promise((r) => setTimeout(r, 2500)); // longer than heartbeatTimeoutMs
    await mosquitto.start(); // persistence off: every subscription is gone
    await waitFor(async () => (await h.api("GET", "/health")).status === 200, 15_000, "health back");
    // The manager announced itself again after reconnecting (its subscriptions are back first).
    await waitFor(() => p.managerOnline > onlineBefore, 15_000, "manager.online after reconnect");
    await waitFor(() => p.conn.connected, 15_000, "proplet reconnected");

    await p.result(start, { stdout: "made it" });
    const done = await waitForTask(h, task.id, (t) => t.state === "completed", "completed after broker restart", 15_000);
    expect(done.latestRun.id).toBe(start.runId);
    expect(done.latestRun.result.stdout).toBe("made it");

    // New work flows too (start out, accept and result in).
    const next = await createTask(h, { name: "after", start: true });
    await p.result(await p.waitForStart(2));
    await waitForTask(h, next.id, (t) => t.state === "completed", "new task completed");
    await p.close();
  });
});

/** A TCP relay to the broker that the test can cut, so only the MANAGER loses the broker. */
async function startRelay(target: URL): Promise<{ url: string; cut(): Promise<void>; restore(): Promise<void>; close(): Promise<void> }> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server = createServer((client) => {
        const upstream = connect(Number(target.port), target.hostname);
        const kill = () => {
          client.destroy();
          upstream.destroy();
        };
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on("error", kill).on("close", kill);
        }
        client.pipe(upstream).pipe(client);
      });
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
  const cut = async () => {
    const closed = new Promise((r) => (server ? server.close(() => r(undefined)) : r(undefined)));
    for (const s of sockets) s.destroy();
    sockets.clear();
    await closed;
    server = undefined;
  };
  await listen();
  return { url: `mqtt://127.0.0.1:${port}`, cut, restore: listen, close: cut };
}

describe("manager cut off from the broker", () => {
  it("does not take the silence of proplets it could not hear for their loss", async () => {
    const relay = await startRelay(new URL(TEST_MQTT_URL));
    cleanups.push(() => relay.close());
    const db = await createTestDatabase("manager_partition");
    cleanups.push(() => db.drop());
    // The manager talks through the relay; the proplet straight to the broker, and keeps heartbeating.
    const h = await startHarness({ mqttUrl: relay.url, databaseUrl: db.url, close: async () => undefined }, { heartbeatTimeoutMs: 1500 });
    cleanups.push(() => h.close());
    const { ScriptedProplet } = await import("./helpers.js");
    const p = await ScriptedProplet.connect(TEST_MQTT_URL, h.root, "partitioned");
    cleanups.push(() => p.close());
    await waitForProplet(h, p.id);
    const task = await createTask(h, { name: "partitioned", start: true });
    const start = await p.waitForStart();
    await waitForTask(h, task.id, (t) => t.state === "running", "running");

    await relay.cut();
    await waitFor(async () => (await h.api("GET", "/health")).status === 503, 10_000, "manager sees MQTT down");
    await new Promise((r) => setTimeout(r, 3000)); // twice heartbeatTimeoutMs
    await relay.restore();
    await waitFor(async () => (await h.api("GET", "/health")).status === 200, 15_000, "manager reconnected");

    await p.result(start, { stdout: "never lost" });
    const done = await waitForTask(h, task.id, (t) => t.state === "completed", "completed", 15_000);
    expect(done.latestRun.id).toBe(start.runId);
    expect(done.latestRun.result.stdout).toBe("never lost");
    expect((await h.api("GET", `/proplets/${p.id}`)).body.alive).toBe(true);
  });
});
