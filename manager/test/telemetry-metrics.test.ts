import { describe, expect, it } from "vitest";
import { ManagerMetrics, type MetricsSource } from "../telemetry/metrics.js";

const source = (over: Partial<MetricsSource> = {}): MetricsSource => ({
  runsByState: async () => ({ queued: 3, scheduled: 1, running: 2, completed: 10, failed: 1, stopped: 0 }),
  queuedByBand: async () => ({ low: 1, normal: 2, high: 0 }),
  proplets: async () => ({ alive: 2, gone: 1 }),
  ...over,
});

describe("the manager's Prometheus export", () => {
  it("reads the store's counts at scrape time and exports the drop counters", async () => {
    const m = new ManagerMetrics(source());
    m.counters.inc("malformedMessages", 2);
    m.counters.inc("redeliveries");
    const { body, contentType } = await m.expose();
    expect(contentType).toMatch(/^text\/plain/);
    expect(body).toMatch(/^propeller_runs\{state="completed"\} 10$/m);
    expect(body).toMatch(/^propeller_queue_depth\{band="normal"\} 2$/m);
    expect(body).toMatch(/^propeller_proplets\{alive="false"\} 1$/m);
    expect(body).toMatch(/^propeller_manager_malformed_messages_total 2$/m);
    expect(body).toMatch(/^propeller_manager_redeliveries_total 1$/m);
    expect(m.counters.get("malformedMessages")).toBe(2);
  });

  it("a proplet's series follow its heartbeats and go when it is gone", async () => {
    const m = new ManagerMetrics(source());
    m.heartbeat("edge-1", { running: 1, maxConcurrency: 4 }, 1024);
    m.heartbeat("edge-1", { running: 3, maxConcurrency: 4 }, 512);
    let body = (await m.expose()).body;
    expect(body).toMatch(/^propeller_fleet_running_runs\{proplet="edge-1"\} 3$/m);
    expect(body).toMatch(/^propeller_fleet_free_memory_bytes\{proplet="edge-1"\} 512$/m);
    m.propletGone("edge-1");
    body = (await m.expose()).body;
    expect(body).not.toContain('proplet="edge-1"');
  });

  it("a failing store read leaves the gauges as they were and the scrape still answers", async () => {
    let fail = false;
    const m = new ManagerMetrics(
      source({
        runsByState: async () => {
          if (fail) throw new Error("database down");
          return { queued: 0, scheduled: 0, running: 0, completed: 4, failed: 0, stopped: 0 };
        },
      }),
    );
    expect((await m.expose()).body).toMatch(/^propeller_runs\{state="completed"\} 4$/m);
    fail = true;
    expect((await m.expose()).body).toMatch(/^propeller_runs\{state="completed"\} 4$/m);
  });
});
