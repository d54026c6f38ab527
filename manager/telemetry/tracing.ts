/**
 * The manager's tracing: its tracer (scope "propeller-manager") and the span each run's trace
 * continues from between the manager's separate passes (REST request → scheduling pass →
 * delivery → result handler). All no-op when tracing is off (lib/tracing).
 */
import { RunTraces, tracer } from "../../lib/tracing/spans.js";
import { ATTR, SPAN } from "../../protocol/index.js";
import type { RunRecord } from "../tasks/model.js";

export const managerTracer = tracer("propeller-manager");
export const runTraces = new RunTraces();

/**
 * A run was queued: its first span (a child of whatever is active: the REST request, a cron tick,
 * a workflow step, the result that asked for a retry), remembered so the scheduler continues it.
 */
export function traceQueuedRun(run: Pick<RunRecord, "id" | "taskId" | "attempt">): void {
  const span = managerTracer.startSpan(SPAN.runQueue, { attributes: { [ATTR.taskId]: run.taskId, [ATTR.runId]: run.id, [ATTR.attempt]: run.attempt } });
  runTraces.remember(run.id, span);
  span.end();
}
