/**
 * Domain events inside one manager process. Services say what happened (a task became runnable,
 * a run finished, a proplet joined); the scheduler and the workflow advancer subscribe to what
 * concerns them. So no service calls the scheduler back, and a new listener needs no change to
 * the services. Not a message bus: in memory, synchronous, nothing persisted; the periodic sweep
 * still catches anything a listener missed.
 */
import { context, ROOT_CONTEXT } from "@opentelemetry/api";
import type { Logger } from "pino";
import { messageOf } from "../lib/errors.js";
import type { LogChunk } from "../protocol/api/index.js";

export type ManagerEvent =
  /** Runs were queued: a task was created started, started, or started by cron or a workflow. */
  | { type: "task.runnable"; taskId?: string }
  /** Runs were stopped by request (stop or delete): their slots are free. */
  | { type: "task.stopped"; taskId: string }
  /** A run reached a terminal state from a proplet's result. */
  | { type: "run.finished"; runId: string; taskId: string }
  /** Runs were lost with their proplet (failed or queued again). */
  | { type: "runs.lost"; propletId?: string }
  /** A proplet announced itself (new, back, or after a manager restart). */
  | { type: "proplet.joined"; propletId: string }
  /** A chunk of a run's live output was stored (log followers). */
  | { type: "run.log"; runId: string; chunk: LogChunk }
  /** A proplet's heartbeat reported what it runs: capacity may have changed. */
  | { type: "proplet.heartbeat"; propletId: string };

export type ManagerEventType = ManagerEvent["type"];
type Listener<T extends ManagerEventType> = (event: Extract<ManagerEvent, { type: T }>) => void;

export class ManagerEvents {
  private readonly listeners = new Map<ManagerEventType, Array<(event: ManagerEvent) => void>>();

  constructor(private readonly log?: Logger) {}

  /** Subscribes one listener to several event types; returns a function that unsubscribes it. */
  on<T extends ManagerEventType>(types: readonly T[], listener: Listener<T>): () => void {
    const wrapped = listener as (event: ManagerEvent) => void;
    for (const type of types) this.listeners.set(type, [...(this.listeners.get(type) ?? []), wrapped]);
    return () => {
      for (const type of types) this.listeners.set(type, (this.listeners.get(type) ?? []).filter((l) => l !== wrapped));
    };
  }

  /** Calls every listener of the event's type; a listener that throws is logged and does not stop the others. */
  emit(event: ManagerEvent): void {
    for (const listener of this.listeners.get(event.type) ?? []) {
      try {
        // Outside the emitter's trace span: what a listener starts (a scheduling pass, a log
        // append) is its own work, not a child of the request or result that emitted the fact.
        context.with(ROOT_CONTEXT, () => listener(event));
      } catch (err) {
        this.log?.error({ event: event.type, err: messageOf(err) }, "a domain event listener failed");
      }
    }
  }
}
