import type { Logger } from "pino";
import type { Database } from "../db/index.js";
import type { Topics } from "../protocol/index.js";
import type { ManagerConfig } from "./config.js";
import type { Counters } from "./metrics.js";
import type { ManagerMetrics } from "./telemetry/metrics.js";
import type { ManagerEvents } from "./events.js";
import type { SecretBox } from "./tasks/secrets.js";

/** What the manager's parts share: no globals, one object handed down from startManager. */
export interface ManagerContext {
  config: ManagerConfig;
  db: Database;
  log: Logger;
  /** The drop and retry counters (GET /health); `metrics.counters`, so they are exported too. */
  counters: Counters;
  /** The Prometheus export (GET /metrics). */
  metrics: ManagerMetrics;
  topics: Topics;
  /** Publishes on the manager's MQTT connection (QoS 1); rejects when the broker is unreachable. */
  publish(topic: string, payload: Buffer): Promise<void>;
  /** Domain events: services say what happened; the scheduler and the workflow advancer listen. */
  events: ManagerEvents;
  /** The manager's clock (one place, so every timestamp comes from it). */
  now(): Date;
  /**
   * URLs of running daemons (wasi-http) by run id, as their proplets report them (task.log
   * progress). In memory only: proplets report them again with every presence.
   */
  endpoints: Map<string, string>;
  /** Seals task secret values for the database and opens them for a task.start (tasks/secrets.ts). */
  secrets: SecretBox;
}
