import Fastify, { type FastifyError, type FastifyInstance } from "fastify";
import { registerTracing } from "../lib/tracing/fastify.js";
import cookie from "@fastify/cookie";
import rateLimit from "@fastify/rate-limit";
import type { Logger } from "pino";
import { createLogger } from "../lib/logger.js";
import { readFile } from "node:fs/promises";
import { migrate, migrationsDir, openDatabase, redactUrl, type Database } from "../db/index.js";
import type { Verifier } from "../attestation/index.js";
import { resolveKbsConfig, type KbsConfig, type KbsConfigInput } from "./config.js";
import { createContext, type KbsContext } from "./context.js";
import { KbsError } from "./errors.js";
import { DatabaseRateLimitStore } from "./store/rate-limits.js";
import { adminRoutes } from "./routes/admin.js";
import { protocolRoutes } from "./routes/protocol.js";
import { publicRoutes } from "./routes/public.js";
import { KBS_RESOURCE_PATH_PREFIX } from "../protocol/kbs.js";

/** The KBS's SQL migrations: `<repo>/migrations/kbs` (from the sources and from dist alike). */
export const KBS_MIGRATIONS_DIR = migrationsDir("kbs");

export interface KbsServerOptions {
  logger?: Logger;
  /** An already open database (tests, or a process hosting several boxes); closed by the caller. */
  database?: Database;
  /** Verifier instances to use instead of the registry's (e.g. constructed with options the config cannot express). */
  verifiers?: Partial<Record<string, Verifier>>;
}

export interface RunningKbs {
  url: string;
  app: FastifyInstance;
  context: KbsContext;
  close(): Promise<void>;
}

/** Builds the fastify app on an opened, migrated database (no listening). */
export async function buildKbsApp(config: KbsConfig, db: Database, options: KbsServerOptions = {}): Promise<{ app: FastifyInstance; context: KbsContext }> {
  const logger = options.logger ?? createLogger("kbs");
  const context = createContext(config, db, logger, options.verifiers);
  const rateLimitAudit = new WindowedOnce();
  const https = config.tls ? { cert: await readFile(config.tls.certFile), key: await readFile(config.tls.keyFile) } : null;
  const app = Fastify({
    loggerInstance: logger,
    https,
    bodyLimit: config.limits.jsonBodyBytes,
    // Client addresses for the rate limit and audit: X-Forwarded-For only from configured proxies.
    trustProxy: config.trustProxy && config.trustProxy.length > 0 ? config.trustProxy : false,
    ajv: { customOptions: { allErrors: false, coerceTypes: false, removeAdditional: false } },
  });
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_request, body, done) => {
    try {
      done(null, body === "" ? undefined : JSON.parse(body as string));
    } catch {
      done(new KbsError("InvalidRequest", "the request body is not valid JSON"), undefined);
    }
  });
  // A server span per request when tracing is on; it continues the caller's traceparent header.
  await registerTracing(app);
  await app.register(cookie);
  await app.register(rateLimit, {
    global: false,
    // The plugin constructs the store; ours needs the database, hence the class bound to it here.
    ...(config.rateLimit.store === "database" ? { store: databaseRateLimitStore(db) } : {}),
    keyGenerator: (request) => request.ip,
    errorResponseBuilder: (request, limit) => {
      const route = request.routeOptions.url ?? "other";
      context.metrics.rateLimited.inc({ route });
      const error = new KbsError("TooManyRequests", `rate limit exceeded: at most ${limit.max} requests per ${Math.round(limit.ttl / 1000) || 1} s; retry after ${limit.after}`);
      // One audit row per client and route per window, not one per refused request (no amplification).
      if (rateLimitAudit.first(`${request.ip} ${route}`, limit.ttl)) {
        void context.audit.record({ event: "deny", outcome: "denied", subject: route, reason: error.message, client: request.ip }).catch(() => undefined);
      }
      error.audited = true;
      return error;
    },
  });

  app.setErrorHandler(async (error: FastifyError | KbsError, request, reply) => {
    const kbsError = toKbsError(error);
    // Refusals made before a handler ran (oversized or malformed bodies, schema violations) are audited here.
    if (!kbsError.audited && kbsError.status >= 400 && kbsError.status < 500) {
      await context.audit
        .record({ event: "deny", outcome: "denied", subject: `${request.method} ${(request.routeOptions.url ?? request.url.split("?")[0] ?? "").slice(0, 200)}`, reason: kbsError.message, client: request.ip })
        .catch(() => undefined);
    }
    if (kbsError.status >= 500) request.log.error({ err: error }, "KBS request failed");
    else request.log.info({ variant: kbsError.variant, status: kbsError.status, detail: kbsError.message }, "KBS request refused");
    if (kbsError.variant === "TooManyRequests" && !reply.hasHeader("retry-after")) reply.header("retry-after", "1");
    return reply.code(kbsError.status).type("application/json").send(kbsError.body());
  });
  app.setNotFoundHandler((request, reply) => {
    const error = request.url.startsWith(KBS_RESOURCE_PATH_PREFIX)
      ? new KbsError("ResourceNotFound", "no such resource (paths are /kbs/v0/resource/<repo>/<type>/<tag>)")
      : new KbsError("NotFound", `no route ${request.method} ${request.url.split("?")[0]!.slice(0, 200)}`);
    return reply.code(error.status).send(error.body());
  });

  await app.register(protocolRoutes(context));
  await app.register(adminRoutes(context));
  await app.register(publicRoutes(context));
  // The pino-typed instance is a FastifyInstance with a narrower logger type.
  return { app: app as unknown as FastifyInstance, context };
}

/** Remembers, for a bounded number of keys, whether an event was already seen in its window. */
class WindowedOnce {
  private readonly seen = new Map<string, number>();
  constructor(private readonly maxKeys = 10_000) {}
  first(key: string, windowMs: number): boolean {
    const now = Date.now();
    const until = this.seen.get(key);
    if (until !== undefined && until > now) return false;
    if (this.seen.size >= this.maxKeys) this.seen.clear();
    this.seen.set(key, now + windowMs);
    return true;
  }
}

/** Maps framework errors (validation, body size, parse) to the KBS error body. */
function toKbsError(error: FastifyError | KbsError): KbsError {
  if (error instanceof KbsError) return error;
  const fe = error as FastifyError;
  if (fe.code === "FST_ERR_CTP_BODY_TOO_LARGE" || fe.statusCode === 413) return new KbsError("PayloadTooLarge", "the request body is larger than this KBS accepts");
  if (fe.validation) return new KbsError("InvalidRequest", `invalid request: ${fe.message}`);
  if (fe.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE" || fe.statusCode === 415) return new KbsError("InvalidRequest", `unsupported content type: ${fe.message}`);
  if (fe.statusCode !== undefined && fe.statusCode >= 400 && fe.statusCode < 500) return new KbsError("InvalidRequest", fe.message);
  return new KbsError("InternalError", "internal error");
}

/** @fastify/rate-limit constructs its store itself (`new Store(options)`): a class bound to `db`. */
function databaseRateLimitStore(db: Database) {
  return class extends DatabaseRateLimitStore {
    constructor() {
      super(db);
    }
  };
}

/**
 * Starts a KBS: validates the configuration (every bad value reported), opens and migrates the
 * database, creates the first signing key if none, listens. `close()` stops it and closes the
 * database it opened.
 */
export async function startKbs(input: KbsConfigInput | KbsConfig, options: KbsServerOptions = {}): Promise<RunningKbs> {
  const config = await resolveKbsConfig(input as KbsConfigInput);
  const logger = options.logger ?? createLogger("kbs");
  const db = options.database ?? (await openDatabase(config.databaseUrl));
  try {
    await migrate(db, KBS_MIGRATIONS_DIR, "kbs");
    const { app, context } = await buildKbsApp(config, db, { ...options, logger });
    await context.signingKeys.signingKey();
    if (config.developmentMode) logger.warn("KBS in DEVELOPMENT MODE: the sample TEE is accepted; never use this in production");
    if (config.admin.keys.length === 0) logger.warn("no admin key configured: the admin API refuses every call");
    const purge = setInterval(() => {
      void context.sessions.purgeExpired().catch(() => undefined);
      void DatabaseRateLimitStore.purgeExpired(db).catch(() => undefined);
    }, 60_000);
    purge.unref();
    const address = await app.listen({ host: config.listen.host, port: config.listen.port });
    const url = address.replace("://[::1]", "://localhost");
    logger.info({ url, database: redactUrl(config.databaseUrl), developmentMode: config.developmentMode }, "KBS listening");
    return {
      url,
      app,
      context,
      async close() {
        clearInterval(purge);
        await app.close();
        if (!options.database) await db.close();
      },
    };
  } catch (err) {
    if (!options.database) await db.close().catch(() => undefined);
    throw err;
  }
}
