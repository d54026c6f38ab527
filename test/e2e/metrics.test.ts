/**
 * GET /metrics against a real stack (the machine's Mosquitto + PostgreSQL, two real proplets),
 * scraped by Debian's real Prometheus with a read-scoped API key, as an operator would run it.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import pino from "pino";
import { startStack, type Stack } from "../../cli/stack.js";
import { ManagerClient } from "../../cli/manager-client.js";
import { createTestDatabase, type TestDatabase } from "../../testing/postgres.js";
import { TEST_MQTT_URL } from "../../testing/mosquitto.js";
import { uniqueTopicRoot, waitFor } from "../../testing/net.js";
import { describeWithPrometheus, startPrometheus, type PrometheusServer } from "../../testing/prometheus.js";
import { exampleArtifact, runToEnd, waitForProplets } from "./helpers.js";

const logger = pino({ level: process.env.PROPELLER_TEST_LOG ?? "silent" });
const TASKS = 6;
const PROPLET_TOKEN = "proplet-metrics-token-0123456789";

describeWithPrometheus("manager metrics scraped by a real Prometheus", () => {
  let stack: Stack;
  let testDb: TestDatabase;
  let prometheus: PrometheusServer | undefined;
  let readKey: string;
  const taskIds: string[] = [];

  beforeAll(async () => {
    testDb = await createTestDatabase();
    stack = await startStack({ proplets: 2, logger, mqttUrl: TEST_MQTT_URL, databaseUrl: testDb.url, topicRoot: uniqueTopicRoot(), propletMetrics: { token: PROPLET_TOKEN } });
    const client = new ManagerClient({ baseUrl: stack.managerUrl, token: stack.managerToken });
    await waitForProplets(client, 2);
    const created = await fetch(`${stack.managerUrl}/apikeys`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.managerToken}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "prometheus", scopes: ["read"] }),
    });
    readKey = ((await created.json()) as { key: string }).key;
    const add = await exampleArtifact("add/add.wasm");
    for (let i = 0; i < TASKS; i++) {
      const task = await runToEnd(client, { name: `metrics-${i}`, artifact: add, entrypoint: { kind: "export", name: "add", inputs: [i, 1] } });
      expect(task.state).toBe("completed");
      taskIds.push(task.id, task.latestRun!.id);
    }
    prometheus = await startPrometheus([
      { job: "propeller-manager", addresses: [new URL(stack.managerUrl).host], bearerToken: readKey },
      { job: "propeller-proplet", addresses: stack.proplets.map((p) => new URL(p.metricsUrl!).host), bearerToken: PROPLET_TOKEN },
    ]);
  }, 90_000);

  afterAll(async () => {
    await prometheus?.close();
    await stack?.close();
    await testDb?.drop();
  });

  it("refuses a scrape without a credential and serves the text format to a read-scoped key", async () => {
    expect((await fetch(`${stack.managerUrl}/metrics`)).status).toBe(401);
    const res = await fetch(`${stack.managerUrl}/metrics`, { headers: { authorization: `Bearer ${readKey}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toMatch(/^# TYPE propeller_runs gauge$/m);
    expect(text).toMatch(/^propeller_runs_finished_total\{outcome="completed"\} 6$/m);
    // Bounded labels: no task or run id is a label value.
    for (const id of taskIds) expect(text).not.toContain(id);
  });

  it("each proplet serves its own /metrics behind its token", async () => {
    const url = stack.proplets[0]!.metricsUrl!;
    expect(new URL(url).hostname).toBe("127.0.0.1");
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: "Bearer wrong-token-0123456789abc" } })).status).toBe(401);
    expect((await fetch(url.replace("/metrics", "/other"), { headers: { authorization: `Bearer ${PROPLET_TOKEN}` } })).status).toBe(404);
    const text = await (await fetch(url, { headers: { authorization: `Bearer ${PROPLET_TOKEN}` } })).text();
    expect(text).toMatch(/^propeller_proplet_max_concurrency \d+$/m);
    for (const id of taskIds) expect(text).not.toContain(id);
  });

  it("Prometheus scrapes it and answers queries over runs, latency, queue depth and the fleet", async () => {
    const p = prometheus!;
    await waitFor(async () => (await p.targets()).find((t) => t.job === "propeller-manager" && t.health === "up"), 20_000, "the manager target up");
    // A sample is read once it holds the awaited figure (or at the deadline, whatever it holds):
    // Prometheus scrapes on its own clock, so the first sample may predate the last heartbeat.
    const value = async (q: string, expected?: number) => {
      let last: number | undefined;
      try {
        const sample = await waitFor(async () => {
          const r = (await p.query(q))[0];
          if (!r) return undefined;
          last = Number(r.value[1]);
          // Boxed: waitFor waits on a falsy answer, and 0 is a figure here.
          return expected === undefined || last === expected ? { value: last } : undefined;
        }, 20_000, q);
        return sample.value;
      } catch (err) {
        if (last === undefined) throw err;
        return last;
      }
    };
    expect(await value('propeller_runs{state="completed"}', TASKS)).toBe(TASKS);
    expect(await value('propeller_runs_finished_total{outcome="completed"}', TASKS)).toBe(TASKS);
    expect(await value("propeller_dispatch_latency_seconds_count", TASKS)).toBe(TASKS);
    expect(await value('sum(propeller_receipt_checks_total{outcome="valid"})', TASKS)).toBe(TASKS);
    expect(await value('propeller_proplets{alive="true"}', 2)).toBe(2);
    expect(await value("sum(propeller_queue_depth)", 0)).toBe(0);
    expect(await value("count(propeller_fleet_max_concurrency)", 2)).toBe(2);
    expect(await value("propeller_manager_malformed_messages_total", 0)).toBe(0);
    await waitFor(async () => (await p.targets()).filter((t) => t.job === "propeller-proplet" && t.health === "up").length === 2 || undefined, 20_000, "both proplet targets up");
    expect(await value("sum(propeller_proplet_runs_started_total)", TASKS)).toBe(TASKS);
    expect(await value('sum(propeller_proplet_artifact_bytes_total{source="inline"})')).toBeGreaterThan(0);
    expect(await value('sum(propeller_proplet_run_duration_seconds_count{outcome="completed"})', TASKS)).toBe(TASKS);
    const p50 = await value("histogram_quantile(0.5, sum by (le) (propeller_run_latency_seconds_bucket))");
    expect(p50).toBeGreaterThan(0);
    expect(p50).toBeLessThan(30);
  });
});
