/** A task's scheduling views: a broadcast task's aggregated fan-out, and a cron task's next tick. */
import type { FastifyInstance } from "fastify";
import type { Database } from "../../../db/index.js";
import { broadcastResult } from "../../scheduler/aggregate.js";
import { scheduleState } from "../../cron/state.js";
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
    async (req) => scheduleState(db, req.params.id),
  );
}
