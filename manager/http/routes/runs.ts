/** A task's runs, one run, its receipt, and the latest result. */
import type { FastifyInstance } from "fastify";
import type { TaskService } from "../../tasks/service.js";
import { NotFoundError } from "../../errors.js";
import { RECEIPT_MEDIA_TYPE, ReceiptReply, Run, RunList, RunParams, TaskIdParams } from "../../../protocol/api/index.js";
import type { TransparencyLog } from "../../tlog/log.js";
import { READ, errors } from "./common.js";

/**
 * A stored receipt with its proof: the run's inclusion bundle against the latest checkpoint, or
 * null while no checkpoint covers its entry yet (or it has none: a rejected receipt is not logged).
 */
async function withLogProof(run: Run, log: TransparencyLog | undefined): Promise<Run> {
  if (!log || run.logIndex === undefined || run.logIndex === null) return run;
  const logProof = await log.inclusionBundle(run.id).catch((err: unknown) => {
    if (err instanceof NotFoundError) return null;
    throw err;
  });
  return { ...run, logProof };
}

export async function runRoutes(app: FastifyInstance, service: TaskService, log?: TransparencyLog): Promise<void> {
  app.get<{ Params: TaskIdParams }>(
    "/tasks/:id/runs",
    { config: READ, schema: { tags: ["runs"], params: TaskIdParams, response: { 200: RunList, ...errors(404) } } },
    async (req) => ({ items: await service.runs(req.params.id) }),
  );

  app.get<{ Params: RunParams }>(
    "/tasks/:id/runs/:runId",
    { config: READ, schema: { tags: ["runs"], params: RunParams, response: { 200: Run, ...errors(404) } } },
    async (req) => withLogProof(await service.run(req.params.id, req.params.runId), log),
  );

  // The run's receipt as sent by the proplet (a compact JWS, application/jose), for anyone to verify
  // offline: `propeller receipt verify` (docs/receipts.md). Whether it passed the manager's check is
  // in the run's `receiptCheck`.
  app.get<{ Params: RunParams }>(
    "/tasks/:id/runs/:runId/receipt",
    { config: READ, schema: { tags: ["runs"], params: RunParams, response: { 200: ReceiptReply, ...errors(404) } } },
    async (req, reply) => {
      const run = await service.run(req.params.id, req.params.runId);
      if (!run.receipt) throw new NotFoundError("no_receipt", `run ${req.params.runId} has no receipt (yet)`);
      return reply.type(RECEIPT_MEDIA_TYPE).send(run.receipt);
    },
  );

  app.get<{ Params: TaskIdParams }>(
    "/tasks/:id/results",
    { config: READ, schema: { tags: ["runs"], params: TaskIdParams, response: { 200: Run, ...errors(404) } } },
    async (req) => withLogProof(await service.result(req.params.id), log),
  );
}
