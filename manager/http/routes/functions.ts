/** Warm functions: create, list, read, delete, and invoke synchronously; InvocationService holds the rules. */
import type { FastifyInstance } from "fastify";
import type { InvocationService } from "../../invocations/service.js";
import { FunctionCreate, FunctionList, FunctionParams, FunctionView, InvokeReply, InvokeRequest } from "../../../protocol/api/index.js";
import { READ, SUBMIT, errors } from "./common.js";

export async function functionRoutes(app: FastifyInstance, inv: InvocationService): Promise<void> {
  type Fn = { Params: FunctionParams };
  app.post<{ Body: FunctionCreate }>(
    "/functions",
    { config: SUBMIT, schema: { tags: ["functions"], body: FunctionCreate, response: { 201: FunctionView, ...errors(400, 409, 413, 415, 503) } } },
    async (req, reply) => reply.status(201).send(await inv.create(req.body)),
  );
  app.get("/functions", { config: READ, schema: { tags: ["functions"], response: { 200: FunctionList } } }, async (): Promise<FunctionList> => ({ items: await inv.list() }));
  app.get<Fn>(
    "/functions/:name",
    { config: READ, schema: { tags: ["functions"], params: FunctionParams, response: { 200: FunctionView, ...errors(404) } } },
    async (req) => inv.get(req.params.name),
  );
  app.delete<Fn>(
    "/functions/:name",
    { config: SUBMIT, schema: { tags: ["functions"], params: FunctionParams, response: { ...errors(404) } } },
    async (req, reply) => {
      await inv.delete(req.params.name);
      return reply.status(204).send();
    },
  );
  // Synchronous: the reply carries the function's return values (or its error). 504 past the
  // deadline, 503 when no proplet can host the function (manager/http/errors.ts maps the codes).
  app.post<Fn & { Body: InvokeRequest }>(
    "/functions/:name/invoke",
    { config: SUBMIT, schema: { tags: ["functions"], params: FunctionParams, body: InvokeRequest, response: { 200: InvokeReply, ...errors(400, 404, 503, 504) } } },
    async (req) => inv.invoke(req.params.name, req.body ?? {}),
  );
}
