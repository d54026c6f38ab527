/**
 * Cron ticks. Every sweep claims the tasks whose tick is due (FOR UPDATE SKIP LOCKED: with several
 * managers on one database each tick is handled by exactly one), starts a new run for each — a new
 * run in the history, every tick — and moves the task's next tick past now, in one transaction.
 *
 * A tick handled later than cronMisfireMs (no manager was running, or it was down) is "missed":
 * the task's `missed` policy runs it once (however many ticks were missed) or skips it. A tick due
 * while the task's previous run is still queued or running is skipped (runs of one task never
 * overlap), and logged.
 */
import type { ManagerContext } from "../context.js";
import { PropellerError } from "../../protocol/index.js";
import { startTaskRuns } from "../scheduler/start.js";
import * as taskStore from "../store/tasks.js";
import { currentRuns } from "../tasks/service.js";
import { TASK_RULES } from "../tasks/state.js";
import { nextTick } from "./schedule.js";

const BATCH = 100;

export type TickOutcome = "started" | "skipped-missed" | "skipped-busy" | "refused";

export async function sweepCron(ctx: ManagerContext): Promise<number> {
  const now = ctx.now();
  const outcomes: Array<{ taskId: string; due: Date; outcome: TickOutcome; detail?: string }> = [];
  await ctx.db.transaction(async (tx) => {
    const due = await taskStore.claimDueTicks(tx, now, BATCH);
    for (const task of due) {
      const schedule = task.spec.schedule;
      if (!schedule) {
        await taskStore.setNextTick(tx, task.id, null);
        continue;
      }
      await taskStore.setNextTick(tx, task.id, nextTick(schedule, now));
      const missed = now.getTime() - task.nextTickAt.getTime() > ctx.config.cronMisfireMs;
      if (missed && schedule.missed === "skip") {
        outcomes.push({ taskId: task.id, due: task.nextTickAt, outcome: "skipped-missed" });
        continue;
      }
      const busy = (await currentRuns(tx, task)).find((r) => !TASK_RULES.canStart(r.state));
      if (busy) {
        outcomes.push({ taskId: task.id, due: task.nextTickAt, outcome: "skipped-busy", detail: `run ${busy.id} is ${busy.state}` });
        continue;
      }
      try {
        // A savepoint would be needed to survive a failed statement; startTaskRuns checks before writing.
        await startTaskRuns(tx, task, now);
        outcomes.push({ taskId: task.id, due: task.nextTickAt, outcome: "started", ...(missed ? { detail: "missed tick run once" } : {}) });
      } catch (err) {
        if (!(err instanceof PropellerError)) throw err;
        outcomes.push({ taskId: task.id, due: task.nextTickAt, outcome: "refused", detail: err.message });
      }
    }
  });
  let started = 0;
  for (const o of outcomes) {
    if (o.outcome === "started") started++;
    const level = o.outcome === "started" ? "info" : "warn";
    ctx.log[level]({ taskId: o.taskId, due: o.due.toISOString(), outcome: o.outcome, detail: o.detail }, "cron tick");
  }
  if (started > 0) ctx.events.emit({ type: "task.runnable" });
  return started;
}
