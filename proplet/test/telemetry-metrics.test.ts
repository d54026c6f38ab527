import { describe, expect, it } from "vitest";
import { PropletMetrics } from "../telemetry/metrics.js";
import { startMetricsServer } from "../telemetry/server.js";

const counters = { invalidMessages: 2, duplicateMessages: 0, busyRefusals: 1, runsStarted: 5, resultsSent: 6, resultsDropped: 0 };

describe("the proplet's Prometheus export", () => {
  it("mirrors the agent's counters and gauges at scrape time, with cache hits and misses", async () => {
    let running = 1;
    const m = new PropletMetrics({ counters, running: () => running, maxConcurrency: 4, freeMemoryBytes: () => 1000 });
    let oci: { hits: number; misses: number } | null = null;
    m.addCache("oci", () => oci);
    m.addCache("component", () => ({ hits: 3, misses: 1 }));
    let body = (await m.expose()).body;
    expect(body).toMatch(/^propeller_proplet_runs_started_total 5$/m);
    expect(body).toMatch(/^propeller_proplet_invalid_messages_total 2$/m);
    expect(body).toMatch(/^propeller_proplet_running_runs 1$/m);
    expect(body).toMatch(/^propeller_proplet_cache_lookups_total\{cache="component",result="hit"\} 3$/m);
    expect(body).not.toContain('cache="oci"');
    running = 3;
    oci = { hits: 0, misses: 2 };
    body = (await m.expose()).body;
    expect(body).toMatch(/^propeller_proplet_running_runs 3$/m);
    expect(body).toMatch(/^propeller_proplet_cache_lookups_total\{cache="oci",result="miss"\} 2$/m);
  });

  it("the server answers only GET /metrics, and only with the token when one is set", async () => {
    const m = new PropletMetrics({ counters, running: () => 0, maxConcurrency: 1, freeMemoryBytes: () => 0 });
    const server = await startMetricsServer({ host: "127.0.0.1", port: 0, token: "a-token-of-enough-length", expose: () => m.expose() });
    try {
      expect((await fetch(server.url)).status).toBe(401);
      const auth = { authorization: "Bearer a-token-of-enough-length" };
      expect((await fetch(server.url, { headers: auth })).status).toBe(200);
      expect((await fetch(server.url, { method: "POST", headers: auth })).status).toBe(405);
      expect((await fetch(server.url.replace("/metrics", "/"), { headers: auth })).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});
