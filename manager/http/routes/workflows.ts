/** Workflows and jobs: the same five routes under /workflows and /jobs; WorkflowService holds the rules. */
import type { FastifyInstance } from "fastify";
import type { WorkflowService } from "../../workflows/service.js";
import { FLOW_KINDS, JobCreate, TaskIdParams, Workflow, WorkflowCreate, WorkflowList, WorkflowListQuery } from "../../../protocol/api/index.js";
import { READ, SUBMIT, errors } from "./common.js";

export async function workflowRoutes(app: FastifyInstance, w: WorkflowService): Promise<void> {
  const IdParams = TaskIdParams;
  type Id = { Params: TaskIdParams };
  type List = { Querystring: WorkflowListQuery };
  for (const kind of FLOW_KINDS) {
    const base = kind === "workflow" ? "/workflows" : "/jobs";
    const tags = [kind === "workflow" ? "workflows" : "jobs"];
    if (kind === "workflow") {
      app.post<{ Body: WorkflowCreate }>(
        base,
        { config: SUBMIT, schema: { tags, body: WorkflowCreate, response: { 201: Workflow, ...errors(400, 413, 415) } } },
        async (req, reply) => reply.status(201).send(await w.createWorkflow(req.body)),
      );
    } else {
      app.post<{ Body: JobCreate }>(
        base,
        { config: SUBMIT, schema: { tags, body: JobCreate, response: { 201: Workflow, ...errors(400, 413, 415) } } },
        async (req, reply) => reply.status(201).send(await w.createJob(req.body)),
      );
    }
    app.get<List>(
      base,
      { config: READ, schema: { tags, querystring: WorkflowListQuery, response: { 200: WorkflowList, ...errors(400) } } },
      async (req) => w.list(kind, req.query),
    );
    app.get<Id>(
      `${base}/:id`,
      { config: READ, schema: { tags, params: IdParams, response: { 200: Workflow, ...errors(404) } } },
      async (req) => w.get(kind, req.params.id),
    );
    app.post<Id>(
      `${base}/:id/start`,
      { config: SUBMIT, schema: { tags, params: IdParams, response: { 202: Workflow, ...errors(404, 409) } } },
      async (req, reply) => reply.status(202).send(await w.start(kind, req.params.id)),
    );
    app.post<Id>(
      `${base}/:id/stop`,
      { config: SUBMIT, schema: { tags, params: IdParams, response: { 202: Workflow, ...errors(404, 409) } } },
      async (req, reply) => reply.status(202).send(await w.stop(kind, req.params.id)),
    );
  }
}
