/**
 * GET /metrics: the Prometheus text format, behind a read-scoped credential (Prometheus sends it
 * as `authorization: Bearer <api key>`; its scrape config's `authorization.credentials_file`).
 * Operational data (fleet size, load, queue depth) is not public.
 */
import type { FastifyInstance } from "fastify";
import { READ, errors } from "./common.js";

export interface MetricsDeps {
  metrics?: () => Promise<{ contentType: string; body: string }>;
}

export async function metricsRoutes(app: FastifyInstance, deps: MetricsDeps): Promise<void> {
  const expose = deps.metrics;
  if (!expose) return;
  app.get(
    "/metrics",
    { config: READ, schema: { tags: ["system"], description: "Prometheus metrics (text exposition format 0.0.4)", response: { ...errors(401, 403) } } },
    async (_req, reply) => {
      const { contentType, body } = await expose();
      return reply.header("content-type", contentType).send(body);
    },
  );
}
