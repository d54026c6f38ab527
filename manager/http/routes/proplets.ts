/** Proplets: list, read, and remove (admin): its runs are handled as if it went offline. */
import type { FastifyInstance } from "fastify";
import type { TaskService } from "../../tasks/service.js";
import type { Liveness } from "../../liveness/liveness.js";
import { NotFoundError } from "../../errors.js";
import { Proplet, PropletList, PropletLiveness, PropletParams } from "../../../protocol/api/index.js";
import { ADMIN, READ, errors } from "./common.js";

export interface PropletDeps {
  service: TaskService;
  liveness: Liveness;
}

export async function propletRoutes(app: FastifyInstance, deps: PropletDeps): Promise<void> {
  const { service } = deps;
  app.get("/proplets", { config: READ, schema: { tags: ["proplets"], response: { 200: PropletList } } }, async () => ({ items: await service.proplets() }));

  app.get<{ Params: PropletParams }>(
    "/proplets/:id",
    { config: READ, schema: { tags: ["proplets"], params: PropletParams, response: { 200: Proplet, ...errors(404) } } },
    async (req) => service.proplet(req.params.id),
  );

  app.get<{ Params: PropletParams }>(
    "/proplets/:id/liveness",
    { config: READ, schema: { tags: ["proplets"], params: PropletParams, response: { 200: PropletLiveness, ...errors(404) } } },
    async (req) => service.propletLiveness(req.params.id),
  );

  app.delete<{ Params: PropletParams }>(
    "/proplets/:id",
    { config: ADMIN, schema: { tags: ["proplets"], params: PropletParams, response: { ...errors(404) } } },
    async (req, reply) => {
      if (!(await deps.liveness.remove(req.params.id))) throw new NotFoundError("proplet_not_found", `no proplet ${req.params.id}`);
      return reply.status(204).send();
    },
  );
}
