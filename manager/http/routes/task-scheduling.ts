/** A task's scheduling views: a broadcast task's aggregated fan-out, and a cron task's next tick. */
import type { FastifyInstance } from "fastify";
import type { Database } from "../../../db/index.js";
import { broadcastResult } from "../../scheduler/aggregate.js";
import { NotFoundError } from "../../errors.js";
import * as taskStore from "../../store/tasks.js";
import { BroadcastResult, ScheduleState, TaskIdParams } from "../../../protocol/api/index.js";
import { READ, errors } from "./common.js";

export async function taskSchedulingRoutes(app: FastifyInstance, db: Database): Promise<void> {
  app.get<{ Params: TaskIdParams }>(
    "/tasks/:id/broadcast",
    { config: READ, schema: { tags: ["tasks"], params: TaskIdParams, response: { 200: BroadcastResult, ...errors(404) } } },
    async (req) => broadcastResult(db, req.params.id),
  );

  app.get<{ Params: TaskIdParams }>(
    "/tasks/:id/schedule",
    { config: READ, schema: { tags: ["tasks"], params: TaskIdParams, response: { 200: ScheduleState, ...errors(404) } } },
    async (req): Promise<ScheduleState> => {
      const task = await taskStore.getTask(db, req.params.id);
      if (!task) throw new NotFoundError("task_not_found", `no task ${req.params.id}`);
      const next = await taskStore.getNextTick(db, task.id);
      return { taskId: task.id, schedule: task.spec.schedule ?? null, nextTickAt: next ? next.toISOString() : null };
    },
  );
}
