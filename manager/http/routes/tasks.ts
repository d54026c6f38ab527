/** Tasks: create, list, read, change, delete, start and stop; TaskService holds the rules. */
import type { FastifyInstance } from "fastify";
import type { TaskService } from "../../tasks/service.js";
import { Task, TaskCreate, TaskDeleteQuery, TaskIdParams, TaskList, TaskListQuery, TaskPatch, TaskWaitQuery } from "../../../protocol/api/index.js";
import { READ, SUBMIT, errors } from "./common.js";

export async function taskRoutes(app: FastifyInstance, service: TaskService): Promise<void> {
  app.post<{ Body: TaskCreate; Querystring: TaskWaitQuery }>(
    "/tasks",
    { config: SUBMIT, schema: { tags: ["tasks"], body: TaskCreate, querystring: TaskWaitQuery, response: { 201: Task, ...errors(400, 413, 415) } } },
    async (req, reply) => {
      const created = await service.create(req.body);
      const wait = req.query.wait ?? 0;
      return reply.status(201).send(wait > 0 && req.body.start ? await service.waitSettled(created.id, wait, reply.raw) : created);
    },
  );

  app.get<{ Querystring: TaskListQuery }>(
    "/tasks",
    { config: READ, schema: { tags: ["tasks"], querystring: TaskListQuery, response: { 200: TaskList, ...errors(400) } } },
    async (req) => service.list(req.query),
  );

  app.get<{ Params: TaskIdParams; Querystring: TaskWaitQuery }>(
    "/tasks/:id",
    { config: READ, schema: { tags: ["tasks"], params: TaskIdParams, querystring: TaskWaitQuery, response: { 200: Task, ...errors(404) } } },
    // reply.raw's close: the client hung up (the request's own close fires once its body is read).
    async (req, reply) => ((req.query.wait ?? 0) > 0 ? service.waitSettled(req.params.id, req.query.wait!, reply.raw) : service.get(req.params.id)),
  );

  app.patch<{ Params: TaskIdParams; Body: TaskPatch }>(
    "/tasks/:id",
    { config: SUBMIT, schema: { tags: ["tasks"], params: TaskIdParams, body: TaskPatch, response: { 200: Task, ...errors(400, 404, 409, 413) } } },
    async (req) => service.update(req.params.id, req.body),
  );

  app.delete<{ Params: TaskIdParams; Querystring: TaskDeleteQuery }>(
    "/tasks/:id",
    { config: SUBMIT, schema: { tags: ["tasks"], params: TaskIdParams, querystring: TaskDeleteQuery, response: { ...errors(404, 409) } } },
    async (req, reply) => {
      await service.delete(req.params.id, req.query.force === true);
      return reply.status(204).send();
    },
  );

  app.post<{ Params: TaskIdParams }>(
    "/tasks/:id/start",
    { config: SUBMIT, schema: { tags: ["tasks"], params: TaskIdParams, response: { 202: Task, ...errors(404, 409) } } },
    async (req, reply) => reply.status(202).send(await service.start(req.params.id)),
  );

  app.post<{ Params: TaskIdParams }>(
    "/tasks/:id/stop",
    { config: SUBMIT, schema: { tags: ["tasks"], params: TaskIdParams, response: { 202: Task, ...errors(404, 409) } } },
    async (req, reply) => reply.status(202).send(await service.stop(req.params.id)),
  );
}
