/**
 * Failures users will meet: the broker restarts mid-run, a proplet dies mid-task, the manager
 * restarts. Real Mosquitto (a private one this test can restart), real PostgreSQL, real proplets.
 */
import { afterEach, describe, expect, it } from "vitest";
import pino from "pino";
import { startManager } from "../../manager/index.js";
import { startProplet } from "../../proplet/index.js";
import { ManagerClient } from "../../cli/manager-client.js";
import { createTestDatabase } from "../../testing/postgres.js";
import { startPrivateMosquitto } from "../../testing/mosquitto.js";
import { uniqueTopicRoot, waitFor } from "../../testing/net.js";
import { E2E_ADMIN_KEY, E2E_AUTH, exampleArtifact, waitForProplets } from "./helpers.js";

const logger = pino({ level: process.env.PROPELLER_TEST_LOG ?? "silent" });
/** Enough primes work to keep a run busy for a few seconds. */
const LONG_PRIMES = "30000000";
/** Long enough to be killed mid-run, short enough to finish soon after being rescheduled. */
const MEDIUM_PRIMES = "8000000";

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function setup(options: { proplets: number; heartbeatTimeoutMs?: number }) {
  const mosquitto = await startPrivateMosquitto();
  cleanups.push(() => mosquitto.dispose());
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  const topicRoot = uniqueTopicRoot();
  const managerConfig = {
    databaseUrl: db.url,
    mqtt: { url: mosquitto.url },
    topicRoot,
    http: { port: 0 },
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 3000,
    reconcileGraceMs: 3000,
    auth: E2E_AUTH,
    logger,
  };
  const manager = await startManager(managerConfig);
  cleanups.push(() => manager.close());
  const proplets = [];
  for (let i = 1; i <= options.proplets; i++) {
    const p = await startProplet({ id: `p${i}`, mqtt: { url: mosquitto.url }, topicRoot, heartbeatIntervalMs: 500, maxConcurrency: 2, logger });
    cleanups.push(() => p.close());
    proplets.push(p);
  }
  const client = new ManagerClient({ baseUrl: manager.url, token: E2E_ADMIN_KEY });
  await waitForProplets(client, options.proplets);
  return { mosquitto, db, manager, managerConfig, proplets, client };
}

// Each test waits for real processes on a possibly loaded 2-core machine: bounded, but not tightly.
const RESILIENCE_TIMEOUT_MS = 180_000;

describe("resilience", () => {
  it("a broker restart mid-run loses nothing: the run completes and its result is recorded", async () => {
    const { mosquitto, client } = await setup({ proplets: 1, heartbeatTimeoutMs: 20_000 });
    const task = await client.createTask({ name: "long", artifact: await exampleArtifact("primes/primes.wasm"), args: [LONG_PRIMES], start: true });
    await waitFor(async () => (await client.getTask(task.id)).state === "running", 15_000, "running");
    await mosquitto.stop();
    await new Promise((r) => setTimeout(r, 500));
    await mosquitto.start();
    const done = await client.waitForFinish(task.id, 60_000);
    expect(done.state).toBe("completed");
    expect(done.latestRun!.result!.exitCode).toBe(0);
    // Work continues after the restart too.
    const after = await client.createTask({ name: "after", artifact: await exampleArtifact("add/add.wasm"), entrypoint: { kind: "export", name: "add", inputs: [2, 3] }, start: true });
    expect((await client.waitForFinish(after.id, 30_000)).latestRun!.result!.returnValues).toEqual([5]);
  }, RESILIENCE_TIMEOUT_MS);

  it("a proplet killed mid-task with policy fail: the run fails, naming the proplet", async () => {
    const { proplets, client } = await setup({ proplets: 2 });
    const task = await client.createTask({ name: "fail-on-loss", artifact: await exampleArtifact("primes/primes.wasm"), args: [LONG_PRIMES], target: "p1", onPropletLoss: "fail", start: true });
    await waitFor(async () => (await client.getTask(task.id)).state === "running", 15_000, "running");
    await proplets[0]!.kill();
    const failed = await client.waitForFinish(task.id, 30_000);
    expect(failed.state).toBe("failed");
    expect(failed.latestRun!.result!.error!.message).toMatch(/p1/);
  }, RESILIENCE_TIMEOUT_MS);

  it("a proplet killed mid-task with policy reschedule: the task completes on another proplet", async () => {
    const { proplets, client } = await setup({ proplets: 2 });
    const task = await client.createTask({ name: "resched", artifact: await exampleArtifact("primes/primes.wasm"), args: [MEDIUM_PRIMES], onPropletLoss: "reschedule", start: true });
    const running = await waitFor(async () => {
      const t = await client.getTask(task.id);
      return t.state === "running" ? t : null;
    }, 15_000, "running");
    const firstProplet = running.latestRun!.propletId!;
    await proplets.find((p) => p.id === firstProplet)!.kill();
    const done = await client.waitForFinish(task.id, 60_000);
    expect(done.state).toBe("completed");
    expect(done.latestRun!.propletId).not.toBe(firstProplet);
    expect(done.latestRun!.result!.exitCode).toBe(0);
  }, RESILIENCE_TIMEOUT_MS);

  it("a manager restart keeps tasks and reconciles running runs", async () => {
    const { managerConfig, manager, client } = await setup({ proplets: 1, heartbeatTimeoutMs: 20_000 });
    const done = await client.createTask({ name: "done-before", artifact: await exampleArtifact("add/add.wasm"), entrypoint: { kind: "export", name: "add", inputs: [1, 2] }, start: true });
    await client.waitForFinish(done.id, 30_000);
    const long = await client.createTask({ name: "long", artifact: await exampleArtifact("primes/primes.wasm"), args: [LONG_PRIMES], start: true });
    const running = await waitFor(async () => {
      const t = await client.getTask(long.id);
      return t.state === "running" ? t : null;
    }, 15_000, "running");
    await manager.close();
    const again = await startManager({ ...managerConfig, http: { port: 0 } });
    cleanups.push(() => again.close());
    const client2 = new ManagerClient({ baseUrl: again.url, token: E2E_ADMIN_KEY });
    expect((await client2.getTask(done.id)).latestRun!.result!.returnValues).toEqual([3]);
    const finished = await client2.waitForFinish(long.id, 60_000);
    expect(finished.state).toBe("completed");
    // Reconciled, not re-run: the proplet re-announced the run and its result was stored under the same run id.
    expect(finished.latestRun!.id).toBe(running.latestRun!.id);
    expect(finished.latestRun!.result!.exitCode).toBe(0);
  }, RESILIENCE_TIMEOUT_MS);
});
