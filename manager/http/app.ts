/** The manager's HTTP server: fastify, strict validation, JSON errors, OpenAPI at /openapi.json. */
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type RouteOptions } from "fastify";
import swagger from "@fastify/swagger";
import type { Logger } from "pino";
import { LOG_REDACT_PATHS } from "../../lib/logger.js";
import { registerTracing } from "../../lib/tracing/fastify.js";
import type { HttpTlsSettings } from "../config.js";
import { installAuth, type Gate } from "../auth/hook.js";
import type { ApiKeys } from "../auth/api-keys.js";
import type { Scope } from "../auth/scopes.js";
import type { Database } from "../../db/index.js";
import type { TaskService } from "../tasks/service.js";
import type { Liveness } from "../liveness/liveness.js";
import type { WorkflowService } from "../workflows/service.js";
import type { InvocationService } from "../invocations/service.js";
import { BODY_LIMIT_BYTES, ErrorReply } from "../../protocol/api/index.js";
import { installErrorHandling } from "./errors.js";
import { validatorCompiler } from "./validation.js";
import { healthRoutes, type HealthDeps } from "./routes/health.js";
import { metricsRoutes, type MetricsDeps } from "./routes/metrics.js";
import { taskRoutes } from "./routes/tasks.js";
import { runRoutes } from "./routes/runs.js";
import { runLogRoutes } from "./routes/logs.js";
import type { LogService } from "../logs/service.js";
import { propletRoutes } from "./routes/proplets.js";
import { apiKeyRoutes } from "./routes/api-keys.js";
import { artifactRoutes, type UploadDeps } from "./routes/artifacts.js";
import { taskSchedulingRoutes } from "./routes/task-scheduling.js";
import { workflowRoutes } from "./routes/workflows.js";
import { functionRoutes } from "./routes/functions.js";
import { logRoutes, type LogRouteDeps } from "./routes/log.js";
import { uiRoutes, type UiOptions } from "../ui/routes.js";
import { flRoutes } from "./routes/fl.js";
import type { FlService } from "../fl/service.js";

/** What the routes call: the services (and, for uploads and scheduling views, the database). */
export interface RouteDeps extends HealthDeps, MetricsDeps {
  /** Live output of runs (GET …/logs); absent in servers without a broker behind them. */
  logs?: LogService;
  service: TaskService;
  liveness: Liveness;
  uploads?: UploadDeps;
  scheduling?: SchedulingRouteDeps;
  transparency?: LogRouteDeps;
  /** The operator dashboard (HTML at /ui, not part of the API document); absent: not served. */
  ui?: Pick<UiOptions, "kbs" | "db">;
  /** Federated learning experiments (/fl/…). */
  fl?: FlService;
}

export interface SchedulingRouteDeps {
  db: Database;
  workflows: WorkflowService;
  invocations: InvocationService;
}

/** One route as the server registered it, with what it needs (for operators and the auth tests). */
export interface RouteEntry {
  method: string;
  url: string;
  scope: Scope | null;
  public: boolean;
  /** The most request body bytes this route reads (its own limit, else the server's). */
  bodyLimit: number;
  /** What it validates and answers with (protocol/api schemas), as registered; null when it declares none. */
  schema: RouteSchemas | null;
}

export interface RouteSchemas {
  body?: unknown;
  querystring?: unknown;
  params?: unknown;
  response?: Record<string, unknown>;
  hide?: boolean;
}

export interface HttpOptions {
  gate: Gate;
  apiKeys: ApiKeys;
  tls?: HttpTlsSettings | null;
  /** Extra routes registered after the API's own (tests: a route that forgets its scope). */
  extraRoutes?: (app: FastifyInstance) => void | Promise<void>;
}

/** Never in a log line (one list for every box: lib/logger.ts). */
export { LOG_REDACT_PATHS };

export async function buildHttpApp(deps: RouteDeps, logger: Logger, options: HttpOptions): Promise<{ app: FastifyInstance; routes: RouteEntry[] }> {
  const log = logger.child({}, { redact: { paths: [...LOG_REDACT_PATHS], censor: "[redacted]" } });
  const app = Fastify({
    // pino.Logger and FastifyBaseLogger differ only in generic parameters.
    loggerInstance: log as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    // Bounded waits: a slow client cannot hold a connection open forever.
    requestTimeout: 30_000,
    connectionTimeout: 30_000,
    ...(options.tls ? { https: { cert: options.tls.cert, key: options.tls.key, ...(options.tls.ca ? { ca: options.tls.ca } : {}) } } : {}),
  }) as unknown as FastifyInstance; // an https server is a FastifyInstance<https.Server>; nothing here depends on which
  app.setValidatorCompiler(validatorCompiler);
  // Responses are built from typed views (tasks/view.ts); plain JSON keeps every field as built.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  installErrorHandling(app);
  // JSON only: anything else is 415 rather than a string handed to the schema.
  app.removeContentTypeParser("text/plain");
  // A server span per request when tracing is on (before every route and the auth hook).
  await registerTracing(app);

  const table: RouteEntry[] = [];
  app.addHook("onRoute", (route: RouteOptions) => {
    const config = (route.config ?? {}) as { scope?: Scope; public?: boolean };
    if (config.public !== true && !config.scope) log.error({ url: route.url, method: route.method }, "route declares no scope: it is denied to everyone (add config: { scope })");
    // Every guarded route documents how it refuses: 401 (no/bad credential), 403 (scope), 429 (failures).
    if (config.public !== true && route.schema) {
      route.schema.response = { ...((route.schema.response as object | undefined) ?? {}), 401: ErrorReply, 403: ErrorReply, 429: ErrorReply };
    }
    for (const method of [route.method].flat()) {
      table.push({
        method: String(method),
        url: route.url,
        scope: config.scope ?? null,
        public: config.public === true,
        bodyLimit: route.bodyLimit ?? BODY_LIMIT_BYTES,
        schema: (route.schema as RouteSchemas | undefined) ?? null,
      });
    }
  });
  installAuth(app, options.gate);

  await app.register(swagger, {
    openapi: {
      openapi: "3.0.3",
      info: { title: "Propeller manager", version: "1", description: "Tasks, runs and proplets of the Propeller orchestrator." },
      components: {
        securitySchemes: {
          bearer: { type: "http", scheme: "bearer", description: "An API key (prop_<id>_<secret>) or a JWT from the configured issuer; scopes read, submit, admin" },
        },
      },
      security: [{ bearer: [] }],
    },
  });
  // One encapsulated plugin per resource; the order is the order of paths in the OpenAPI document.
  await app.register(async (scoped) => healthRoutes(scoped, deps));
  await app.register(async (scoped) => metricsRoutes(scoped, deps));
  await app.register(async (scoped) => taskRoutes(scoped, deps.service));
  await app.register(async (scoped) => runRoutes(scoped, deps.service, deps.transparency?.log));
  if (deps.logs) {
    const logs = deps.logs;
    await app.register(async (scoped) => runLogRoutes(scoped, logs));
  }
  await app.register(async (scoped) => propletRoutes(scoped, deps));
  await app.register(async (scoped) => apiKeyRoutes(scoped, options.apiKeys));
  const uploads = deps.uploads;
  if (uploads) await app.register(async (scoped) => artifactRoutes(scoped, uploads));
  const scheduling = deps.scheduling;
  if (scheduling) {
    await app.register(async (scoped) => taskSchedulingRoutes(scoped, scheduling.db));
    await app.register(async (scoped) => workflowRoutes(scoped, scheduling.workflows));
    await app.register(async (scoped) => functionRoutes(scoped, scheduling.invocations));
  }
  const transparency = deps.transparency;
  if (transparency) await app.register(async (scoped) => logRoutes(scoped, transparency));
  if (deps.ui) await app.register(async (scoped) => uiRoutes(scoped, { ...deps.ui, gate: options.gate, secure: Boolean(options.tls) }));
  const fl = deps.fl;
  if (fl) await app.register(async (scoped) => flRoutes(scoped, fl));
  app.get("/openapi.json", { schema: { hide: true }, config: { scope: "read" } }, async () => app.swagger());
  if (options.extraRoutes) await options.extraRoutes(app);
  return { app, routes: table };
}
