/**
 * Starting a task: one queued run, or — for a broadcast task — one run pinned to each live proplet
 * that fits it, all sharing a group id (the task's state is then their aggregate, transitions.ts).
 */
import { randomUUID } from "node:crypto";
import type { SqlExecutor } from "../../db/index.js";
import { ConflictError } from "../errors.js";
import * as propletStore from "../store/proplets.js";
import * as runStore from "../store/runs.js";
import * as taskStore from "../store/tasks.js";
import type { RunRecord, TaskRecord } from "../tasks/model.js";
import { assertTaskTransition } from "../tasks/state.js";
import { WAITING_REASON, newReceiptNonce, queueRun } from "../tasks/transitions.js";
import { traceQueuedRun } from "../telemetry/tracing.js";
import { feasibilityRefusal, summarizeRefusals, type Refusal } from "./choose.js";

/** Queues the runs of one start of a (locked) task that may start; returns them. */
export async function startTaskRuns(tx: SqlExecutor, task: TaskRecord, now: Date): Promise<RunRecord[]> {
  if (!task.spec.broadcast) return [await queueRun(tx, task, now)];
  assertTaskTransition(task.id, task.state, "pending");
  const live = await propletStore.listProplets(tx, { aliveOnly: true });
  const refusals = live.map((p) => feasibilityRefusal(task.spec, p)).filter((r): r is Refusal => r !== null);
  const refused = new Set(refusals.map((r) => r.propletId));
  const proplets = live.filter((p) => !refused.has(p.id));
  if (proplets.length === 0) {
    const why = refusals.length > 0 ? ` (refused by ${summarizeRefusals(refusals)})` : " (no proplet is live)";
    throw new ConflictError("no_matching_proplet", `broadcast task ${task.id}: no live proplet fits it now${why}; start it again when one is live`);
  }
  proplets.sort((a, b) => a.id.localeCompare(b.id));
  const first = (await runStore.maxAttempt(tx, task.id)) + 1;
  const groupId = randomUUID();
  const runs: RunRecord[] = [];
  for (const [i, p] of proplets.entries()) {
    runs.push(
      await runStore.insertRun(tx, { id: randomUUID(), taskId: task.id, attempt: first + i, receiptNonce: newReceiptNonce(), now, groupId, pinnedProplet: p.id }),
    );
  }
  await taskStore.setTaskState(tx, task.id, { state: "pending", latestRunId: runs[0]!.id, pendingReason: WAITING_REASON, now });
  for (const run of runs) traceQueuedRun(run);
  return runs;
}
