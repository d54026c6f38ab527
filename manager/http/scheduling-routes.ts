/**
 * REST routes of scheduling (issue 7), registered next to the task routes. Every route carries
 * `config.scope` (read for GET, submit for changes) for the REST auth hook.
 */
import type { FastifyContextConfig, FastifyInstance } from "fastify";
import type { Static, TSchema } from "@sinclair/typebox";
import type { Database } from "../../db/index.js";
import { broadcastResult } from "../scheduler/aggregate.js";
import { NotFoundError } from "../errors.js";
import * as taskStore from "../store/tasks.js";
import * as S from "./schemas.js";
import * as SS from "./scheduling-schemas.js";

export interface SchedulingRouteDeps {
  db: Database;
}

/** Scopes for the REST auth hook (a constant, so it type-checks before that hook declares `scope`). */
export const READ = { scope: "read" } as FastifyContextConfig;
export const SUBMIT = { scope: "submit" } as FastifyContextConfig;

const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, S.ErrorReply])) as Record<number, TSchema>;

export async function schedulingRoutes(app: FastifyInstance, deps: SchedulingRouteDeps): Promise<void> {
  app.get<{ Params: Static<typeof S.TaskIdParams> }>(
    "/tasks/:id/broadcast",
    { config: READ, schema: { tags: ["tasks"], params: S.TaskIdParams, response: { 200: SS.BroadcastResult, ...errors(404) } } },
    async (req) => broadcastResult(deps.db, req.params.id),
  );

  app.get<{ Params: Static<typeof S.TaskIdParams> }>(
    "/tasks/:id/schedule",
    { config: READ, schema: { tags: ["tasks"], params: S.TaskIdParams, response: { 200: SS.ScheduleState, ...errors(404) } } },
    async (req): Promise<SS.ScheduleState> => {
      const task = await taskStore.getTask(deps.db, req.params.id);
      if (!task) throw new NotFoundError("task_not_found", `no task ${req.params.id}`);
      const next = await taskStore.getNextTick(deps.db, task.id);
      return { taskId: task.id, schedule: task.spec.schedule ?? null, nextTickAt: next ? next.toISOString() : null };
    },
  );
}
