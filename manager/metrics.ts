/**
 * Counters of things the manager dropped or retried. Read by tests (RunningManager.counters),
 * shown on GET /health and exported on GET /metrics (telemetry/metrics.ts), so a drop is never
 * silent.
 */
export const COUNTER_NAMES = [
  /** MQTT payloads that were not JSON or did not match their schema. */
  "malformedMessages",
  /** Messages whose propletId differs from the proplet id in their topic. */
  "senderMismatches",
  /** Accepted / result messages from a proplet the run is not assigned to. */
  "wrongProplet",
  /** Accepted / result messages for a run the manager does not know. */
  "unknownRuns",
  /** Results for a run whose result was already stored (re-acknowledged, not stored again). */
  "duplicateResults",
  /** task.start messages sent again because no task.accepted came in time. */
  "redeliveries",
  /** Runs failed because no delivery was accepted. */
  "deliveryExhausted",
  /** proplet.control reannounce requests sent to unknown proplets. */
  "reannounceRequests",
  /** Runs failed or rescheduled because their proplet was lost. */
  "runsLost",
  /** Errors while handling a message or a timer (logged). */
  "handlerErrors",
  "receiptsRejected",
  /** Verified receipts too large for a transparency log entry (64 KiB), so not logged. */
  "receiptsUnlogged",
] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];

export class Counters {
  private readonly values = new Map<CounterName, number>(COUNTER_NAMES.map((n) => [n, 0]));

  /** `sink` hears every increment (the Prometheus export). */
  constructor(private readonly sink?: (name: CounterName, by: number) => void) {}

  inc(name: CounterName, by = 1): void {
    this.values.set(name, (this.values.get(name) ?? 0) + by);
    this.sink?.(name, by);
  }

  get(name: CounterName): number {
    return this.values.get(name) ?? 0;
  }

  snapshot(): Record<CounterName, number> {
    return Object.fromEntries(this.values) as Record<CounterName, number>;
  }
}
