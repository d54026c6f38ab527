/** Federated learning: experiments, their rounds and model versions; FlService holds the rules. */
import type { FastifyInstance } from "fastify";
import type { FlService } from "../../fl/service.js";
import { FlExperiment, FlExperimentCreate, FlExperimentList, FlExperimentListQuery, FlExperimentParams, FlModelParams, FlModelVersion } from "../../../protocol/api/index.js";
import { READ, SUBMIT, errors } from "./common.js";

export async function flRoutes(app: FastifyInstance, fl: FlService): Promise<void> {
  const tags = ["federated learning"];
  app.post<{ Body: FlExperimentCreate }>(
    "/fl/experiments",
    { config: SUBMIT, schema: { tags, body: FlExperimentCreate, response: { 201: FlExperiment, ...errors(400, 409, 413, 415) } } },
    async (req, reply) => reply.status(201).send(await fl.create(req.body)),
  );
  app.get<{ Querystring: FlExperimentListQuery }>(
    "/fl/experiments",
    { config: READ, schema: { tags, querystring: FlExperimentListQuery, response: { 200: FlExperimentList, ...errors(400) } } },
    async (req) => fl.list(req.query),
  );
  app.get<{ Params: FlExperimentParams }>(
    "/fl/experiments/:id",
    { config: READ, schema: { tags, params: FlExperimentParams, response: { 200: FlExperiment, ...errors(404) } } },
    async (req) => fl.get(req.params.id),
  );
  app.post<{ Params: FlExperimentParams }>(
    "/fl/experiments/:id/start",
    { config: SUBMIT, schema: { tags, params: FlExperimentParams, response: { 202: FlExperiment, ...errors(404, 409) } } },
    async (req, reply) => reply.status(202).send(await fl.start(req.params.id)),
  );
  app.post<{ Params: FlExperimentParams }>(
    "/fl/experiments/:id/stop",
    { config: SUBMIT, schema: { tags, params: FlExperimentParams, response: { 202: FlExperiment, ...errors(404, 409) } } },
    async (req, reply) => reply.status(202).send(await fl.stop(req.params.id)),
  );
  app.get<{ Params: FlModelParams }>(
    "/fl/experiments/:id/models/:version",
    { config: READ, schema: { tags, params: FlModelParams, response: { 200: FlModelVersion, ...errors(404) } } },
    async (req) => fl.model(req.params.id, req.params.version),
  );
}
