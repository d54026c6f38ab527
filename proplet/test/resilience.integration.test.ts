/**
 * The proplet against real Mosquitto: the machine's broker for the last will, a private one
 * (stopped and started by the test) for a broker restart in the middle of a run.
 */
import { afterEach, describe, expect, it } from "vitest";
import pino from "pino";
import { startPrivateMosquitto, TEST_MQTT_URL } from "../../testing/mosquitto.js";
import { uniqueTopicRoot, waitFor } from "../../testing/net.js";
import { startProplet } from "../index.js";
import { example } from "./helpers.js";
import { ScriptedManager } from "./scripted-manager.js";

const logger = pino({ level: process.env.PROPLET_TEST_LOG ?? "silent" });
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});
const text = (s: string) => Buffer.from(s, "base64").toString("utf8");

describe("proplet resilience (real Mosquitto)", () => {
  it("kill(): no DISCONNECT, so the broker publishes the last will (offline); the running work sends nothing", async () => {
    const topicRoot = uniqueTopicRoot();
    const manager = await ScriptedManager.connect(TEST_MQTT_URL, topicRoot);
    cleanups.push(() => manager.close());
    const id = `kill-${Date.now().toString(36)}`;
    const proplet = await startProplet({ id, mqtt: { url: TEST_MQTT_URL }, topicRoot, logger });
    cleanups.push(() => proplet.close());
    await manager.next("announce", id);
    const run = await manager.start(id, await example("primes/primes.wasm"), { args: ["30000000"] });
    await manager.next("tasks/accepted", id, (m) => m.runId === run.runId);

    const t0 = Date.now();
    await proplet.kill();
    // the 3e7 primes run (many seconds) was abandoned, not waited for
    expect(Date.now() - t0).toBeLessThan(3000);
    const will = await manager.next("status", id, (s) => s.state === "offline", 10_000);
    expect(will.reason).toMatch(/last will/);
    await new Promise((r) => setTimeout(r, 500));
    expect(manager.of("tasks/result", id)).toHaveLength(0);
  });

  it("close(): graceful, publishes offline (shutdown) itself", async () => {
    const topicRoot = uniqueTopicRoot();
    const manager = await ScriptedManager.connect(TEST_MQTT_URL, topicRoot);
    cleanups.push(() => manager.close());
    const id = `close-${Date.now().toString(36)}`;
    const proplet = await startProplet({ id, mqtt: { url: TEST_MQTT_URL }, topicRoot, logger });
    await manager.next("announce", id);
    await proplet.close();
    const offline = await manager.next("status", id, (s) => s.state === "offline", 5000);
    expect(offline.reason).toBe("shutdown");
    await new Promise((r) => setTimeout(r, 300));
    expect(manager.of("status", id, (s) => s.state === "offline")).toHaveLength(1); // no will after a clean DISCONNECT
  });

  it("close() returns promptly even when the broker is gone", async () => {
    const mosquitto = await startPrivateMosquitto();
    cleanups.push(() => mosquitto.dispose());
    const id = `gone-${Date.now().toString(36)}`;
    const proplet = await startProplet({ id, mqtt: { url: mosquitto.url }, topicRoot: uniqueTopicRoot(), logger });
    await mosquitto.stop();
    const t0 = Date.now();
    await proplet.close();
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it("broker restart mid-run: reconnects, resubscribes, re-announces; the result arrives and is resent until acked", async () => {
    const mosquitto = await startPrivateMosquitto();
    cleanups.push(() => mosquitto.dispose());
    const topicRoot = uniqueTopicRoot();
    const manager = await ScriptedManager.connect(mosquitto.url, topicRoot);
    cleanups.push(() => manager.close());
    const id = `restart-${Date.now().toString(36)}`;
    const proplet = await startProplet({ id, mqtt: { url: mosquitto.url }, topicRoot, logger, heartbeatIntervalMs: 300, resultResendMs: 60_000 });
    cleanups.push(() => proplet.close());
    await manager.next("announce", id);

    // about 4 s of work: it outlives the restart
    const run = await manager.start(id, await example("primes/primes.wasm"), { args: ["8000000"] });
    await manager.next("tasks/accepted", id, (m) => m.runId === run.runId);
    await mosquitto.stop();
    await new Promise((r) => setTimeout(r, 500));
    const announcesBefore = manager.seen.filter((s) => s.name === "announce").length;
    await mosquitto.start();

    // re-announced (with the run in progress, unless it already ended)
    await waitFor(() => manager.of("announce", id).length > announcesBefore, 15_000, "a re-announce after the restart");
    const result = await manager.result(id, run.runId, 30_000);
    expect(result.outcome).toBe("completed");
    expect(text(result.stdout)).toBe("539777 primes up to 8000000\n");

    // withhold the ack; restart the broker again: the result comes back after the reconnect
    // (the backoff timer is 60 s here, so only the reconnect can have sent it)
    const copies = manager.of("tasks/result", id, (m) => m.runId === run.runId).length;
    await mosquitto.stop();
    await mosquitto.start();
    await waitFor(() => manager.of("tasks/result", id, (m) => m.runId === run.runId).length > copies, 15_000, "the result resent after reconnecting");
    await manager.ack(id, run.taskId, run.runId);

    // subscriptions are back: a new start after the restarts runs
    const add = await manager.start(id, await example("add/add.wasm"), { entrypoint: { kind: "export", name: "add", inputs: [20, 22] } });
    expect((await manager.result(id, add.runId)).returnValues).toEqual([42]);
    await manager.ack(id, add.taskId, add.runId);
    const after = manager.of("tasks/result", id, (m) => m.runId === run.runId).length;
    await manager.online();
    await new Promise((r) => setTimeout(r, 500));
    expect(manager.of("tasks/result", id, (m) => m.runId === run.runId)).toHaveLength(after);
  });
});
