/**
 * The proplet's Prometheus export, served on a port of its own when `metrics` is configured (off
 * by default: a proplet is a worker, not a service). Its own registry; labels are bounded
 * (runtime, outcome, artifact source), never run or task ids.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { PropletCounters } from "../lease/types.js";

/** What a scrape reads from the running proplet. */
export interface PropletGaugeSource {
  counters: Readonly<PropletCounters>;
  running(): number;
  maxConcurrency: number;
  freeMemoryBytes(): number;
}

const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600];

const COUNTER_HELP: Record<keyof PropletCounters, string> = {
  invalidMessages: "Messages dropped because they failed validation or named another proplet",
  duplicateMessages: "Messages dropped as repeats (same messageId)",
  busyRefusals: "Starts not accepted because the proplet was full (the manager redelivers)",
  runsStarted: "Runs started",
  resultsSent: "Results published (resends included)",
  resultsDropped: "Results evicted from the pending store before their acknowledgement",
};

const snake = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export class PropletMetrics {
  readonly registry = new Registry();
  readonly runDuration: Histogram<"runtime" | "outcome">;
  readonly artifactBytes: Counter<"source">;
  readonly artifactFetchSeconds: Histogram<"source">;
  readonly mqttReconnects: Counter<never>;
  private readonly caches = new Map<string, () => { hits: number; misses: number } | null>();

  constructor(source: PropletGaugeSource) {
    const registers = [this.registry];
    for (const name of Object.keys(COUNTER_HELP) as Array<keyof PropletCounters>) {
      new Counter({
        name: `propeller_proplet_${snake(name)}_total`,
        help: COUNTER_HELP[name],
        registers,
        collect() {
          // The counters live in the agent (GET of its state in tests); mirrored at scrape.
          this.reset();
          this.inc(source.counters[name]);
        },
      });
    }
    new Gauge({ name: "propeller_proplet_running_runs", help: "Runs in progress", registers, collect() { this.set(source.running()); } });
    new Gauge({ name: "propeller_proplet_max_concurrency", help: "Run slots offered", registers, collect() { this.set(source.maxConcurrency); } });
    new Gauge({ name: "propeller_proplet_free_memory_bytes", help: "Memory offered to workloads not reserved by running runs", registers, collect() { this.set(source.freeMemoryBytes()); } });
    this.runDuration = new Histogram({ name: "propeller_proplet_run_duration_seconds", help: "From accepted to result, by runtime and outcome", labelNames: ["runtime", "outcome"], buckets: DURATION_BUCKETS, registers });
    this.artifactBytes = new Counter({ name: "propeller_proplet_artifact_bytes_total", help: "Artifact bytes fetched, by source (inline, http, oci, mqtt)", labelNames: ["source"], registers });
    this.artifactFetchSeconds = new Histogram({ name: "propeller_proplet_artifact_fetch_seconds", help: "Artifact fetch time, by source", labelNames: ["source"], buckets: DURATION_BUCKETS, registers });
    const caches = this.caches;
    new Counter({
      name: "propeller_proplet_cache_lookups_total",
      help: "Cache lookups by cache (oci layers, transpiled components) and result (hit or miss)",
      labelNames: ["cache", "result"],
      registers,
      collect() {
        this.reset();
        for (const [cache, stats] of caches) {
          const s = stats();
          if (!s) continue;
          this.inc({ cache, result: "hit" }, s.hits);
          this.inc({ cache, result: "miss" }, s.misses);
        }
      },
    });
    this.mqttReconnects = new Counter({ name: "propeller_proplet_mqtt_reconnects_total", help: "Times the MQTT connection came back after a loss", registers });
  }

  /** A cache whose hits and misses are exported (`stats` null: not opened yet). */
  addCache(name: string, stats: () => { hits: number; misses: number } | null): void {
    this.caches.set(name, stats);
  }

  async expose(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
