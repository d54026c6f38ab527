/** A task's cron schedule as the API shows it: the schedule, and when it next fires. */
import type { SqlExecutor } from "../../db/index.js";
import type { ScheduleState } from "../../protocol/api/index.js";
import { NotFoundError } from "../errors.js";
import * as taskStore from "../store/tasks.js";

export async function scheduleState(db: SqlExecutor, taskId: string): Promise<ScheduleState> {
  const task = await taskStore.getTask(db, taskId);
  if (!task) throw new NotFoundError("task_not_found", `no task ${taskId}`);
  const next = await taskStore.getNextTick(db, task.id);
  return { taskId: task.id, schedule: task.spec.schedule ?? null, nextTickAt: next ? next.toISOString() : null };
}
