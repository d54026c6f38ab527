/**
 * The manager: REST API over a task store, a scheduler, dispatch with leases and liveness, all
 * talking MQTT to proplets. `startManager` is the one entry point.
 */
import type { FastifyInstance } from "fastify";
import { Topics, encodeManagerOnline } from "../protocol/index.js";
import { MqttConnection } from "../mqtt/index.js";
import type { Database } from "../db/index.js";
import { resolveConfig, type ManagerConfigInput } from "./config.js";
import type { ManagerContext } from "./context.js";
import { Dispatcher } from "./dispatch/dispatcher.js";
import { buildHttpApp, type RouteEntry } from "./http/app.js";
import { ApiKeys } from "./auth/api-keys.js";
import { Authenticator } from "./auth/authenticate.js";
import { FailureLimiter } from "./auth/failures.js";
import { purgeFailures } from "./auth/failure-store.js";
import { Liveness } from "./liveness/liveness.js";
import { Reconciler } from "./liveness/reconcile.js";
import type { CounterName } from "./metrics.js";
import { ManagerMetrics, storeMetricsSource } from "./telemetry/metrics.js";
import { Router } from "./router.js";
import { ManagerEvents } from "./events.js";
import { ChunkServer } from "./delivery/chunks.js";
import { Scheduler } from "./scheduler/scheduler.js";
import { sweepCron } from "./cron/ticker.js";
import { Advancer } from "./workflows/advancer.js";
import { WorkflowService } from "./workflows/service.js";
import { InvocationService } from "./invocations/service.js";
import { openManagerDatabase } from "./store/open.js";
import { TaskService } from "./tasks/service.js";
import { LogService } from "./logs/service.js";
import { sealPlainSecretRows, secretBox } from "./tasks/secrets.js";
import { randomBytes } from "node:crypto";
import { messageOf } from "../lib/errors.js";
import { TransparencyLog } from "./tlog/log.js";
import { FlAdvancer } from "./fl/advancer.js";
import { FlService } from "./fl/service.js";

export type { ManagerConfigInput } from "./config.js";
export { resolveConfig } from "./config.js";
export type { RouteEntry } from "./http/app.js";
export { generateApiKey } from "./auth/keys.js";
export type { Scope } from "./auth/scopes.js";

export interface RunningManager {
  url: string;
  port: number;
  close(): Promise<void>;
  /** Drop and retry counters (also on GET /health), for tests and operators. */
  readonly counters: Readonly<Record<CounterName, number>>;
  /** Every route the REST API registered, with the scope it needs (GET /health is the only public one). */
  readonly routes: readonly RouteEntry[];
}

export async function startManager(input: ManagerConfigInput): Promise<RunningManager> {
  const config = resolveConfig(input);
  const log = config.logger;
  const cleanups: Array<() => Promise<unknown>> = [];
  const cleanup = async () => {
    for (const step of cleanups.splice(0).reverse()) {
      await step().catch((err: unknown) => log.warn({ err: messageOf(err) }, "manager shutdown step failed"));
    }
  };

  try {
    const db: Database = await openManagerDatabase(config.databaseUrl);
    cleanups.push(() => db.close());

    const topics = new Topics(config.topicRoot);
    const metrics = new ManagerMetrics(storeMetricsSource(db), log.child({ component: "metrics" }));
    const counters = metrics.counters;
    let mqtt: MqttConnection | undefined;
    const ctx: ManagerContext = {
      config,
      db,
      log,
      counters,
      metrics,
      topics,
      publish: async (topic, payload) => {
        if (!mqtt) throw new Error("MQTT is not connected yet");
        await mqtt.publish(topic, payload);
      },
      events: new ManagerEvents(log),
      now: () => new Date(),
      endpoints: new Map(),
      secrets: secretBox(config.secretsKey ?? randomBytes(32)),
    };
    // Rows written before secret values were sealed: sealed now, before anything reads them.
    const resealed = await sealPlainSecretRows(db, ctx.secrets);
    if (resealed.sealed > 0) log.info({ tasks: resealed.sealed }, "sealed the secret env values older task rows held in the clear");
    for (const s of resealed.skipped) log.error({ taskId: s.id, err: s.reason }, "a task row still holds secret env values in the clear: it could not be sealed");
    if (!config.secretsKey) {
      log.warn("no secrets key configured (PROPELLER_SECRETS_KEY_FILE): task secret values are sealed with a key that lives only in this process, so a task with secretEnv cannot start after a restart until its secretEnv is set again");
    }
    const dispatcher = new Dispatcher(ctx);
    const reconciler = new Reconciler(ctx, (run, reason) => dispatcher.stop(run, reason));
    const liveness = new Liveness(ctx, dispatcher, reconciler);
    const scheduler = new Scheduler(ctx, dispatcher);
    const chunks = new ChunkServer(ctx);

    const service = new TaskService(ctx);
    const flows = new Advancer(ctx);
    const workflows = new WorkflowService(ctx, service, () => flows.request());
    const flAdvancer = new FlAdvancer(ctx, service);
    const fl = new FlService(ctx, service, () => flAdvancer.request());
    const invocations = new InvocationService(ctx, topics);
    const logs = new LogService(ctx, dispatcher);
    const router = new Router(ctx, topics, { liveness, dispatcher, artifacts: chunks, functions: invocations, logs, secagg: flAdvancer.secagg });

    const apiKeys = new ApiKeys(db, log.child({ component: "auth" }), ctx.now);
    // Before anything listens: the operator's bootstrap keys must work from the first request.
    await apiKeys.ensure(config.auth.bootstrapKeys);
    const gate = { authenticator: new Authenticator(apiKeys, config.auth.jwt), failures: new FailureLimiter(config.auth.failureLimit, undefined, db) };

    await reconciler.begin();
    // Ended failure windows are dropped now and then (a new failure starts a new window anyway).
    const purgeFailuresTimer = setInterval(() => void purgeFailures(db).catch(() => undefined), 60_000);
    purgeFailuresTimer.unref();
    cleanups.push(async () => clearInterval(purgeFailuresTimer));

    // Before results are heard: receipts stored while no manager ran are queued and appended now.
    const transparency = new TransparencyLog({ db, log: log.child({ component: "tlog" }), config: config.log, events: ctx.events, now: ctx.now, onError: () => counters.inc("handlerErrors") });
    await transparency.start();
    cleanups.push(() => transparency.close());

    const connection = await MqttConnection.connect({
      url: config.mqtt.url,
      // `<identity>:<suffix>` (identity "manager", the CN of its client certificate): brokers that bind client ids to identities accept it.
      clientId: `manager:${config.managerId}`,
      ...(config.mqtt.username !== undefined ? { username: config.mqtt.username } : {}),
      ...(config.mqtt.password !== undefined ? { password: config.mqtt.password } : {}),
      ...(config.mqtt.tls ? { tls: config.mqtt.tls } : {}),
      ...(config.mqtt.protocolVersion ? { protocolVersion: config.mqtt.protocolVersion } : {}),
      reconnectPeriodMs: 1000,
      logger: log.child({ component: "mqtt" }),
    });
    mqtt = connection;
    // Reverse order at close: stop hearing messages first, then let the ones in hand finish.
    cleanups.push(() => router.drain());
    cleanups.push(() => connection.close());
    await router.subscribe(connection);
    const announceOnline = async () => {
      await connection
        .publish(topics.managerOnline, encodeManagerOnline({ kind: "manager.online", managerId: config.managerId }))
        .catch((err: unknown) => log.warn({ err: messageOf(err) }, "could not publish manager.online"));
    };
    // After every reconnect (subscriptions are back by then): proplets re-announce and resend results.
    connection.onConnect(async () => {
      metrics.mqttReconnects.inc();
      liveness.resetSilenceBaseline();
      await announceOnline();
    });
    await announceOnline();

    const sched = scheduler;
    cleanups.push(() => sched.close());
    cleanups.push(() => flows.close());
    cleanups.push(() => flAdvancer.close());
    const ticker = startTicker(ctx, async () => {
      await dispatcher.sweepOverdue();
      // While the manager itself cannot hear the broker, silence proves nothing about proplets.
      if (connection.connected) await liveness.sweepSilent();
      await reconciler.check();
      await sweepCron(ctx);
      sched.request();
      flows.request();
      flAdvancer.request();
    });
    cleanups.push(() => ticker.stop());
    sched.request();

    const { app, routes }: { app: FastifyInstance; routes: RouteEntry[] } = await buildHttpApp(
      {
        service,
        liveness,
        uploads: { db },
        scheduling: { db, workflows, invocations },
        metrics: () => metrics.expose(),
        logs,
        fl,
        transparency: { log: transparency, publicRead: config.log.publicRead },
        ...(config.ui.enabled ? { ui: { kbs: config.ui.kbs, db } } : {}),
        health: async () => {
          const database = await Promise.race([
            db.query("SELECT 1").then(() => "ok" as const, () => "unavailable" as const),
            new Promise<"unavailable">((r) => setTimeout(() => r("unavailable"), 2000).unref()),
          ]);
          const mqttState = connection.connected ? ("ok" as const) : ("disconnected" as const);
          return {
            status: database === "ok" && mqttState === "ok" ? "ok" : "degraded",
            database,
            mqtt: mqttState,
            counters: counters.snapshot(),
          };
        },
      },
      log.child({ component: "http" }),
      { gate, apiKeys, tls: config.http.tls },
    );
    cleanups.push(() => app.close());
    await app.listen({ host: config.http.host, port: config.http.port });
    const address = app.server.address();
    const port = typeof address === "object" && address ? address.port : config.http.port;
    const host = config.http.host.includes(":") ? `[${config.http.host}]` : config.http.host;
    const url = `${config.http.tls ? "https" : "http"}://${host}:${port}`;
    log.info({ url, tls: config.http.tls !== null, jwtIssuer: config.auth.jwt?.issuer ?? null, managerId: config.managerId, topicRoot: config.topicRoot, database: db.kind }, "manager listening");

    if (!config.http.tls && !["127.0.0.1", "::1", "localhost"].includes(config.http.host)) {
      log.warn({ url }, "the REST API is plain HTTP on a non-loopback address: bearer credentials cross the network in clear; configure http.tls");
    }

    let closing: Promise<void> | undefined;
    return {
      url,
      port,
      routes,
      get counters() {
        return counters.snapshot();
      },
      close: () => (closing ??= cleanup()),
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** Runs the periodic sweeps; never two at once; errors are logged and counted. */
function startTicker(ctx: ManagerContext, tick: () => Promise<void>): { stop(): Promise<void> } {
  const { ackTimeoutMs, heartbeatTimeoutMs, reconcileGraceMs } = ctx.config;
  const shortest = Math.min(ackTimeoutMs, heartbeatTimeoutMs, reconcileGraceMs > 0 ? reconcileGraceMs : Infinity);
  const everyMs = Math.max(20, Math.min(1000, Math.floor(shortest / 4)));
  let current: Promise<void> | null = null;
  const timer = setInterval(() => {
    if (current) return;
    current = tick()
      .catch((err: unknown) => {
        ctx.counters.inc("handlerErrors");
        ctx.log.error({ err: messageOf(err) }, "periodic sweep failed");
      })
      .finally(() => {
        current = null;
      });
  }, everyMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await current;
    },
  };
}
