/**
 * The manager's Prometheus export (GET /metrics). Its own registry, never prom-client's global one,
 * so several managers in one process (tests) stay apart. Labels are bounded: states, priority
 * bands, outcomes and proplet ids (one series per proplet of the fleet, removed when it is gone);
 * never task or run ids.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Logger } from "pino";
import { messageOf } from "../../lib/errors.js";
import { COUNTER_NAMES, Counters, type CounterName } from "../metrics.js";
import type { SqlExecutor } from "../../db/index.js";
import { countProplets } from "../store/proplets.js";
import { PRIORITY_BANDS, countQueuedByBand, countRunsByState, type PriorityBand } from "../store/runs.js";
import { RUN_STATES, type RunState } from "../tasks/state.js";

/** What a scrape reads from the store (bounded: a slow database makes the gauges stale, not the scrape hang). */
export interface MetricsSource {
  runsByState(): Promise<Record<RunState, number>>;
  queuedByBand(): Promise<Record<PriorityBand, number>>;
  proplets(): Promise<{ alive: number; gone: number }>;
}

/** The store's counts, as a scrape reads them. */
export function storeMetricsSource(db: SqlExecutor): MetricsSource {
  return { runsByState: () => countRunsByState(db), queuedByBand: () => countQueuedByBand(db), proplets: () => countProplets(db) };
}

/** Most proplets with a per-proplet series; beyond it new proplets are left out (and counted). */
export const MAX_PROPLET_SERIES = 10_000;
const STORE_READ_TIMEOUT_MS = 2000;
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

const snake = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export class ManagerMetrics {
  readonly registry = new Registry();
  /** The drop and retry counters (GET /health), each exported as propeller_manager_<name>_total. */
  readonly counters: Counters;
  readonly dispatchLatency: Histogram<never>;
  readonly runLatency: Histogram<"outcome">;
  readonly runsFinished: Counter<"outcome">;
  readonly receiptChecks: Counter<"outcome" | "attested">;
  readonly mqttReconnects: Counter<never>;
  private readonly propletRunning: Gauge<"proplet">;
  private readonly propletMaxConcurrency: Gauge<"proplet">;
  private readonly propletFreeMemory: Gauge<"proplet">;
  private readonly propletSeriesDropped: Counter<never>;
  private readonly proplets = new Set<string>();

  constructor(source: MetricsSource, log?: Logger) {
    const registers = [this.registry];
    const exported = new Map<CounterName, Counter<never>>(
      COUNTER_NAMES.map((name) => [name, new Counter({ name: `propeller_manager_${snake(name)}_total`, help: `manager counter ${name} (also on GET /health)`, registers })]),
    );
    this.counters = new Counters((name, by) => exported.get(name)?.inc(by));

    this.dispatchLatency = new Histogram({ name: "propeller_dispatch_latency_seconds", help: "A run's time from queued to accepted by its proplet", buckets: LATENCY_BUCKETS, registers });
    this.runLatency = new Histogram({ name: "propeller_run_latency_seconds", help: "A run's time from queued to its stored result (end to end)", labelNames: ["outcome"], buckets: LATENCY_BUCKETS, registers });
    this.runsFinished = new Counter({ name: "propeller_runs_finished_total", help: "Runs that reached a terminal state from a result", labelNames: ["outcome"], registers });
    this.receiptChecks = new Counter({ name: "propeller_receipt_checks_total", help: "Result receipts checked, by outcome (valid or rejected) and whether attested", labelNames: ["outcome", "attested"], registers });
    this.mqttReconnects = new Counter({ name: "propeller_mqtt_reconnects_total", help: "Times the manager's MQTT connection came back after a loss", registers });
    this.propletRunning = new Gauge({ name: "propeller_fleet_running_runs", help: "Runs a proplet reports running (last heartbeat)", labelNames: ["proplet"], registers });
    this.propletMaxConcurrency = new Gauge({ name: "propeller_fleet_max_concurrency", help: "Run slots a proplet offers (last heartbeat)", labelNames: ["proplet"], registers });
    this.propletFreeMemory = new Gauge({ name: "propeller_fleet_free_memory_bytes", help: "Memory a proplet reports free (last heartbeat)", labelNames: ["proplet"], registers });
    this.propletSeriesDropped = new Counter({ name: "propeller_fleet_series_dropped_total", help: `Heartbeats not exported because ${MAX_PROPLET_SERIES} proplets already have series`, registers });

    const read = async <T>(what: string, f: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await Promise.race([f(), new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${STORE_READ_TIMEOUT_MS} ms`)), STORE_READ_TIMEOUT_MS).unref())]);
      } catch (err) {
        log?.warn({ err: messageOf(err), what }, "metrics: store read failed; the gauge keeps its last value");
        return undefined;
      }
    };
    new Gauge({
      name: "propeller_runs",
      help: "Runs by state",
      labelNames: ["state"],
      registers,
      async collect() {
        const counts = await read("runs by state", () => source.runsByState());
        if (counts) for (const state of RUN_STATES) this.set({ state }, counts[state]);
      },
    });
    new Gauge({
      name: "propeller_queue_depth",
      help: "Queued runs by priority band (low 0-33, normal 34-66, high 67-100)",
      labelNames: ["band"],
      registers,
      async collect() {
        const counts = await read("queue depth", () => source.queuedByBand());
        if (counts) for (const band of PRIORITY_BANDS) this.set({ band }, counts[band]);
      },
    });
    new Gauge({
      name: "propeller_proplets",
      help: "Registered proplets, alive or gone",
      labelNames: ["alive"],
      registers,
      async collect() {
        const counts = await read("proplets", () => source.proplets());
        if (counts) {
          this.set({ alive: "true" }, counts.alive);
          this.set({ alive: "false" }, counts.gone);
        }
      },
    });
  }

  /** A proplet's heartbeat: its load and free memory become its series. */
  heartbeat(proplet: string, load: { running: number; maxConcurrency: number }, freeMemoryBytes?: number): void {
    if (!this.proplets.has(proplet)) {
      if (this.proplets.size >= MAX_PROPLET_SERIES) {
        this.propletSeriesDropped.inc();
        return;
      }
      this.proplets.add(proplet);
    }
    this.propletRunning.set({ proplet }, load.running);
    this.propletMaxConcurrency.set({ proplet }, load.maxConcurrency);
    if (freeMemoryBytes !== undefined) this.propletFreeMemory.set({ proplet }, freeMemoryBytes);
  }

  /** A proplet is gone: its series go with it (a gauge of a gone proplet would read as live load). */
  propletGone(proplet: string): void {
    if (!this.proplets.delete(proplet)) return;
    for (const gauge of [this.propletRunning, this.propletMaxConcurrency, this.propletFreeMemory]) gauge.remove({ proplet });
  }

  /** The text exposition format, and its content type. */
  async expose(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
