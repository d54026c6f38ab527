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
import type { WorkflowService } from "../workflows/service.js";
import { InvocationError, type InvocationService } from "../invocations/service.js";
import * as S from "./schemas.js";
import * as SS from "./scheduling-schemas.js";

export interface SchedulingRouteDeps {
  db: Database;
  workflows: WorkflowService;
  invocations: InvocationService;
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

  const w = deps.workflows;
  const IdParams = S.TaskIdParams;
  type Id = { Params: Static<typeof IdParams> };
  type List = { Querystring: Static<typeof SS.WorkflowListQuery> };
  for (const kind of ["workflow", "job"] as const) {
    const base = kind === "workflow" ? "/workflows" : "/jobs";
    const tags = [kind === "workflow" ? "workflows" : "jobs"];
    if (kind === "workflow") {
      app.post<{ Body: SS.WorkflowCreate }>(
        base,
        { config: SUBMIT, schema: { tags, body: SS.WorkflowCreate, response: { 201: SS.Workflow, ...errors(400, 413, 415) } } },
        async (req, reply) => reply.status(201).send(await w.createWorkflow(req.body)),
      );
    } else {
      app.post<{ Body: SS.JobCreate }>(
        base,
        { config: SUBMIT, schema: { tags, body: SS.JobCreate, response: { 201: SS.Workflow, ...errors(400, 413, 415) } } },
        async (req, reply) => reply.status(201).send(await w.createJob(req.body)),
      );
    }
    app.get<List>(
      base,
      { config: READ, schema: { tags, querystring: SS.WorkflowListQuery, response: { 200: SS.WorkflowList, ...errors(400) } } },
      async (req) => w.list(kind, req.query),
    );
    app.get<Id>(
      `${base}/:id`,
      { config: READ, schema: { tags, params: IdParams, response: { 200: SS.Workflow, ...errors(404) } } },
      async (req) => w.get(kind, req.params.id),
    );
    app.post<Id>(
      `${base}/:id/start`,
      { config: SUBMIT, schema: { tags, params: IdParams, response: { 202: SS.Workflow, ...errors(404, 409) } } },
      async (req, reply) => reply.status(202).send(await w.start(kind, req.params.id)),
    );
    app.post<Id>(
      `${base}/:id/stop`,
      { config: SUBMIT, schema: { tags, params: IdParams, response: { 202: SS.Workflow, ...errors(404, 409) } } },
      async (req, reply) => reply.status(202).send(await w.stop(kind, req.params.id)),
    );
  }

  const inv = deps.invocations;
  type Fn = { Params: Static<typeof SS.FunctionParams> };
  app.post<{ Body: SS.FunctionCreate }>(
    "/functions",
    { config: SUBMIT, schema: { tags: ["functions"], body: SS.FunctionCreate, response: { 201: SS.FunctionView, ...errors(400, 409, 413, 415, 503) } } },
    async (req, reply) => {
      try {
        return reply.status(201).send(await inv.create(req.body));
      } catch (err) {
        if (err instanceof InvocationError) return reply.status(err.status).send({ code: err.code, message: err.message });
        throw err;
      }
    },
  );
  app.get("/functions", { config: READ, schema: { tags: ["functions"], response: { 200: SS.FunctionList } } }, async () => ({ items: await inv.list() }));
  app.get<Fn>(
    "/functions/:name",
    { config: READ, schema: { tags: ["functions"], params: SS.FunctionParams, response: { 200: SS.FunctionView, ...errors(404) } } },
    async (req) => inv.get(req.params.name),
  );
  app.delete<Fn>(
    "/functions/:name",
    { config: SUBMIT, schema: { tags: ["functions"], params: SS.FunctionParams, response: { ...errors(404) } } },
    async (req, reply) => {
      await inv.delete(req.params.name);
      return reply.status(204).send();
    },
  );
  // Synchronous: the reply carries the function's return values (or its error). 504 past the
  // deadline, 503 when no proplet can host the function.
  app.post<Fn & { Body: SS.InvokeRequest }>(
    "/functions/:name/invoke",
    { config: SUBMIT, schema: { tags: ["functions"], params: SS.FunctionParams, body: SS.InvokeRequest, response: { 200: SS.InvokeReply, ...errors(400, 404, 503, 504) } } },
    async (req, reply) => {
      try {
        return await inv.invoke(req.params.name, req.body ?? {});
      } catch (err) {
        if (err instanceof InvocationError) return reply.status(err.status).send({ code: err.code, message: err.message });
        throw err;
      }
    },
  );
}
