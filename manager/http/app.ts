/** The manager's HTTP server: fastify, strict validation, JSON errors, OpenAPI at /openapi.json. */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import swagger from "@fastify/swagger";
import type { Logger } from "pino";
import { installErrorHandling } from "./errors.js";
import { routes, type RouteDeps } from "./routes.js";
import { schedulingRoutes, type SchedulingRouteDeps } from "./scheduling-routes.js";
import { BODY_LIMIT_BYTES } from "./schemas.js";
import { validatorCompiler } from "./validation.js";

export async function buildHttpApp(deps: RouteDeps & { scheduling?: SchedulingRouteDeps }, logger: Logger): Promise<FastifyInstance> {
  const app = Fastify({
    // pino.Logger and FastifyBaseLogger differ only in generic parameters.
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    // Bounded waits: a slow client cannot hold a connection open forever.
    requestTimeout: 30_000,
    connectionTimeout: 30_000,
  });
  app.setValidatorCompiler(validatorCompiler);
  // Responses are built from typed views (tasks/view.ts); plain JSON keeps every field as built.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  installErrorHandling(app);
  // JSON only: anything else is 415 rather than a string handed to the schema.
  app.removeContentTypeParser("text/plain");

  await app.register(swagger, {
    openapi: {
      openapi: "3.0.3",
      info: { title: "Propeller manager", version: "1", description: "Tasks, runs and proplets of the Propeller orchestrator." },
    },
  });
  await app.register(async (scoped) => routes(scoped, deps));
  const scheduling = deps.scheduling;
  if (scheduling) await app.register(async (scoped) => schedulingRoutes(scoped, scheduling));
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  return app;
}
