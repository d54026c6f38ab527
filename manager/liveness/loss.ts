/**
 * What happens to a run whose proplet is gone: failed with the reason, and — when the task asks
 * for it — a new run (attempt + 1) queued for another proplet. Never left scheduled or running.
 */
import type { ManagerContext } from "../context.js";
import * as runStore from "../store/runs.js";
import * as taskStore from "../store/tasks.js";
import type { RunRecord } from "../tasks/model.js";
import { isActiveRun } from "../tasks/state.js";
import { managerResult, queueRun, transitionRun } from "../tasks/transitions.js";

export async function loseRun(ctx: ManagerContext, run: RunRecord, reason: string): Promise<"failed" | "rescheduled" | "unchanged"> {
  const now = ctx.now();
  const outcome = await ctx.db.transaction(async (tx) => {
    const task = await taskStore.getTask(tx, run.taskId, { forUpdate: true });
    const current = await runStore.getRun(tx, run.id);
    if (!task || !current || !isActiveRun(current.state) || current.propletId !== run.propletId) return "unchanged" as const;
    // A broadcast run is pinned to its proplet: it cannot move elsewhere.
    const reschedule = task.spec.onPropletLoss === "reschedule" && task.latestRunId === current.id && current.groupId === null;
    const attemptNote = reschedule ? `; rescheduled as attempt ${current.attempt + 1}` : "";
    const failed = await transitionRun(
      tx,
      current,
      "failed",
      { finishedAt: now, result: managerResult("proplet_lost", `${reason}${attemptNote}`) },
      now,
      { retry: !reschedule },
    );
    if (!failed) return "unchanged" as const;
    if (!reschedule) return "failed" as const;
    const afterFail = (await taskStore.getTask(tx, task.id))!;
    // The same try: a lost proplet is not the workload's failure, so it uses up no retry.
    await queueRun(tx, afterFail, now, `rescheduled: ${reason}`, { tryNumber: current.tryNumber });
    return "rescheduled" as const;
  });
  if (outcome !== "unchanged") {
    ctx.counters.inc("runsLost");
    ctx.log.warn({ runId: run.id, taskId: run.taskId, propletId: run.propletId, outcome }, reason);
  }
  return outcome;
}

/** Every run a lost proplet held. */
export async function loseProplet(ctx: ManagerContext, propletId: string, reason: string): Promise<void> {
  const runs = await runStore.activeRuns(ctx.db, propletId);
  for (const run of runs) await loseRun(ctx, run, reason);
  ctx.events.emit({ type: "runs.lost", propletId });
}
