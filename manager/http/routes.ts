/** The REST API (docs/api.md): routes validate and translate; TaskService holds the rules. */
import type { FastifyInstance } from "fastify";
import type { Static, TSchema } from "@sinclair/typebox";
import type { TaskService } from "../tasks/service.js";
import type { Liveness } from "../liveness/liveness.js";
import { NotFoundError } from "../errors.js";
import * as S from "./schemas.js";

export interface RouteDeps {
  service: TaskService;
  liveness: Liveness;
  health(): Promise<Static<typeof S.Health>>;
}

const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, S.ErrorReply])) as Record<number, TSchema>;

export async function routes(app: FastifyInstance, deps: RouteDeps): Promise<void> {
  const { service } = deps;

  app.get("/health", { config: { public: true }, schema: { tags: ["system"], security: [], response: { 200: S.Health, 503: S.Health } } }, async (_req, reply) => {
    const health = await deps.health();
    return reply.status(health.status === "ok" ? 200 : 503).send(health);
  });

  app.post<{ Body: S.TaskCreate }>(
    "/tasks",
    { config: { scope: "submit" }, schema: { tags: ["tasks"], body: S.TaskCreate, response: { 201: S.Task, ...errors(400, 413, 415) } } },
    async (req, reply) => reply.status(201).send(await service.create(req.body)),
  );

  app.get<{ Querystring: Static<typeof S.ListQuery> }>(
    "/tasks",
    { config: { scope: "read" }, schema: { tags: ["tasks"], querystring: S.ListQuery, response: { 200: S.TaskList, ...errors(400) } } },
    async (req) => service.list(req.query),
  );

  app.get<{ Params: Static<typeof S.TaskIdParams> }>(
    "/tasks/:id",
    { config: { scope: "read" }, schema: { tags: ["tasks"], params: S.TaskIdParams, response: { 200: S.Task, ...errors(404) } } },
    async (req) => service.get(req.params.id),
  );

  app.patch<{ Params: Static<typeof S.TaskIdParams>; Body: S.TaskPatch }>(
    "/tasks/:id",
    { config: { scope: "submit" }, schema: { tags: ["tasks"], params: S.TaskIdParams, body: S.TaskPatch, response: { 200: S.Task, ...errors(400, 404, 409, 413) } } },
    async (req) => service.update(req.params.id, req.body),
  );

  app.delete<{ Params: Static<typeof S.TaskIdParams>; Querystring: Static<typeof S.DeleteQuery> }>(
    "/tasks/:id",
    { config: { scope: "submit" }, schema: { tags: ["tasks"], params: S.TaskIdParams, querystring: S.DeleteQuery, response: { ...errors(404, 409) } } },
    async (req, reply) => {
      await service.delete(req.params.id, req.query.force === true);
      return reply.status(204).send();
    },
  );

  app.post<{ Params: Static<typeof S.TaskIdParams> }>(
    "/tasks/:id/start",
    { config: { scope: "submit" }, schema: { tags: ["tasks"], params: S.TaskIdParams, response: { 202: S.Task, ...errors(404, 409) } } },
    async (req, reply) => reply.status(202).send(await service.start(req.params.id)),
  );

  app.post<{ Params: Static<typeof S.TaskIdParams> }>(
    "/tasks/:id/stop",
    { config: { scope: "submit" }, schema: { tags: ["tasks"], params: S.TaskIdParams, response: { 202: S.Task, ...errors(404, 409) } } },
    async (req, reply) => reply.status(202).send(await service.stop(req.params.id)),
  );

  app.get<{ Params: Static<typeof S.TaskIdParams> }>(
    "/tasks/:id/runs",
    { config: { scope: "read" }, schema: { tags: ["runs"], params: S.TaskIdParams, response: { 200: S.RunList, ...errors(404) } } },
    async (req) => ({ items: await service.runs(req.params.id) }),
  );

  app.get<{ Params: Static<typeof S.RunParams> }>(
    "/tasks/:id/runs/:runId",
    { config: { scope: "read" }, schema: { tags: ["runs"], params: S.RunParams, response: { 200: S.Run, ...errors(404) } } },
    async (req) => service.run(req.params.id, req.params.runId),
  );

  // The run's receipt as sent by the proplet (a compact JWS, application/jose), for anyone to verify
  // offline: `propeller receipt verify` (docs/receipts.md). Whether it passed the manager's check is
  // in the run's `receiptCheck`.
  app.get<{ Params: Static<typeof S.RunParams> }>(
    "/tasks/:id/runs/:runId/receipt",
    { config: { scope: "read" }, schema: { tags: ["runs"], params: S.RunParams, response: { 200: { type: "string", description: "compact JWS" }, ...errors(404) } } },
    async (req, reply) => {
      const run = await service.run(req.params.id, req.params.runId);
      if (!run.receipt) throw new NotFoundError("no_receipt", `run ${req.params.runId} has no receipt (yet)`);
      return reply.type("application/jose").send(run.receipt);
    },
  );

  app.get<{ Params: Static<typeof S.TaskIdParams> }>(
    "/tasks/:id/results",
    { config: { scope: "read" }, schema: { tags: ["runs"], params: S.TaskIdParams, response: { 200: S.Run, ...errors(404) } } },
    async (req) => service.result(req.params.id),
  );

  app.get("/proplets", { config: { scope: "read" }, schema: { tags: ["proplets"], response: { 200: S.PropletList } } }, async () => ({ items: await service.proplets() }));

  app.get<{ Params: Static<typeof S.PropletParams> }>(
    "/proplets/:id",
    { config: { scope: "read" }, schema: { tags: ["proplets"], params: S.PropletParams, response: { 200: S.Proplet, ...errors(404) } } },
    async (req) => service.proplet(req.params.id),
  );

  app.delete<{ Params: Static<typeof S.PropletParams> }>(
    "/proplets/:id",
    { config: { scope: "admin" }, schema: { tags: ["proplets"], params: S.PropletParams, response: { ...errors(404) } } },
    async (req, reply) => {
      if (!(await deps.liveness.remove(req.params.id))) throw new NotFoundError("proplet_not_found", `no proplet ${req.params.id}`);
      return reply.status(204).send();
    },
  );
}
