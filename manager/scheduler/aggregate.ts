/** The aggregated outcome of a broadcast task's latest fan-out: one run per proplet, and counts. */
import type { SqlExecutor } from "../../db/index.js";
import { NotFoundError } from "../errors.js";
import type { BroadcastResult } from "../../protocol/api/index.js";
import * as runStore from "../store/runs.js";
import * as taskStore from "../store/tasks.js";
import { RUN_STATES, taskStateForGroup } from "../tasks/state.js";
import { runView } from "../tasks/view.js";

export async function broadcastResult(db: SqlExecutor, taskId: string): Promise<BroadcastResult> {
  const task = await taskStore.getTask(db, taskId);
  if (!task) throw new NotFoundError("task_not_found", `no task ${taskId}`);
  const latest = task.latestRunId ? await runStore.getRun(db, task.latestRunId) : null;
  if (!latest?.groupId) {
    throw new NotFoundError("no_result", `task ${taskId} has no broadcast runs (create it with broadcast: true and start it)`);
  }
  const runs = await runStore.groupRuns(db, latest.groupId);
  const counts = Object.fromEntries(RUN_STATES.map((s) => [s, runs.filter((r) => r.state === s).length])) as BroadcastResult["counts"];
  return { taskId, groupId: latest.groupId, state: taskStateForGroup(runs.map((r) => r.state)), total: runs.length, counts, runs: runs.map((r) => runView(r)) };
}
