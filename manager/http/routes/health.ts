/** GET /health: public, 503 when the database or the broker is unreachable. */
import type { FastifyInstance } from "fastify";
import { Health } from "../../../protocol/api/index.js";

export interface HealthDeps {
  health(): Promise<Health>;
}

export async function healthRoutes(app: FastifyInstance, deps: HealthDeps): Promise<void> {
  app.get("/health", { config: { public: true }, schema: { tags: ["system"], security: [], response: { 200: Health, 503: Health } } }, async (_req, reply) => {
    const health = await deps.health();
    return reply.status(health.status === "ok" ? 200 : 503).send(health);
  });
}
