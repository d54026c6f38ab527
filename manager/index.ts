/**
 * The manager: REST API over a task store, a scheduler, dispatch with leases and liveness, all
 * talking MQTT to proplets. `startManager` is the one entry point (CONTRACT-CORE.md).
 */
import type { FastifyInstance } from "fastify";
import { Topics, encodeManagerOnline } from "../protocol/index.js";
import { MqttConnection } from "../mqtt/index.js";
import type { Database } from "../db/index.js";
import { resolveConfig, type ManagerConfigInput } from "./config.js";
import type { ManagerContext } from "./context.js";
import { Dispatcher } from "./dispatch/dispatcher.js";
import { buildHttpApp } from "./http/app.js";
import { Liveness } from "./liveness/liveness.js";
import { Reconciler } from "./liveness/reconcile.js";
import { Counters, type CounterName } from "./metrics.js";
import { Router } from "./router.js";
import { Scheduler } from "./scheduler/scheduler.js";
import { sweepCron } from "./cron/ticker.js";
import { Advancer } from "./workflows/advancer.js";
import { WorkflowService } from "./workflows/service.js";
import { InvocationService } from "./invocations/service.js";
import { openManagerDatabase } from "./store/open.js";
import { TaskService } from "./tasks/service.js";

export type { ManagerConfigInput } from "./config.js";
export { resolveConfig } from "./config.js";

export interface RunningManager {
  url: string;
  port: number;
  close(): Promise<void>;
  /** Drop and retry counters (also on GET /health), for tests and operators. */
  readonly counters: Readonly<Record<CounterName, number>>;
}

export async function startManager(input: ManagerConfigInput): Promise<RunningManager> {
  const config = resolveConfig(input);
  const log = config.logger;
  const cleanups: Array<() => Promise<unknown>> = [];
  const cleanup = async () => {
    for (const step of cleanups.splice(0).reverse()) {
      await step().catch((err: unknown) => log.warn({ err: (err as Error).message }, "manager shutdown step failed"));
    }
  };

  try {
    const db: Database = await openManagerDatabase(config.databaseUrl);
    cleanups.push(() => db.close());

    const topics = new Topics(config.topicRoot);
    const counters = new Counters();
    let mqtt: MqttConnection | undefined;
    let scheduler: Scheduler | undefined;
    let advancer: Advancer | undefined;
    const ctx: ManagerContext = {
      config,
      db,
      log,
      counters,
      topics,
      publish: async (topic, payload) => {
        if (!mqtt) throw new Error("MQTT is not connected yet");
        await mqtt.publish(topic, payload);
      },
      // A finished run may also let a workflow advance.
      requestSchedule: () => {
        scheduler?.request();
        advancer?.request();
      },
      now: () => new Date(),
    };
    const dispatcher = new Dispatcher(ctx);
    const reconciler = new Reconciler(ctx, (run, reason) => dispatcher.stop(run, reason));
    const liveness = new Liveness(ctx, dispatcher, reconciler);
    scheduler = new Scheduler(ctx, dispatcher);
    const router = new Router(ctx, topics, liveness, dispatcher);
    const service = new TaskService(ctx);
    const flows = new Advancer(ctx);
    advancer = flows;
    const workflows = new WorkflowService(ctx, service, () => flows.request());
    const invocations = new InvocationService(ctx, topics);

    await reconciler.begin();

    const connection = await MqttConnection.connect({
      url: config.mqtt.url,
      clientId: `propeller-${config.managerId}`,
      ...(config.mqtt.username !== undefined ? { username: config.mqtt.username } : {}),
      ...(config.mqtt.password !== undefined ? { password: config.mqtt.password } : {}),
      ...(config.mqtt.tls ? { tls: config.mqtt.tls } : {}),
      reconnectPeriodMs: 1000,
      logger: log.child({ component: "mqtt" }),
    });
    mqtt = connection;
    // Reverse order at close: stop hearing messages first, then let the ones in hand finish.
    cleanups.push(() => router.drain());
    cleanups.push(() => connection.close());
    await router.subscribe(connection);
    await invocations.subscribe(connection);
    const announceOnline = async () => {
      await connection
        .publish(topics.managerOnline, encodeManagerOnline({ kind: "manager.online", managerId: config.managerId }))
        .catch((err: unknown) => log.warn({ err: (err as Error).message }, "could not publish manager.online"));
    };
    // After every reconnect (subscriptions are back by then): proplets re-announce and resend results.
    connection.onConnect(async () => {
      liveness.resetSilenceBaseline();
      await announceOnline();
    });
    await announceOnline();

    const sched = scheduler;
    cleanups.push(() => sched.close());
    cleanups.push(() => flows.close());
    const ticker = startTicker(ctx, async () => {
      await dispatcher.sweepOverdue();
      // While the manager itself cannot hear the broker, silence proves nothing about proplets.
      if (connection.connected) await liveness.sweepSilent();
      await reconciler.check();
      await sweepCron(ctx);
      sched.request();
      flows.request();
    });
    cleanups.push(() => ticker.stop());
    sched.request();

    const app: FastifyInstance = await buildHttpApp(
      {
        service,
        liveness,
        scheduling: { db, workflows, invocations },
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
    );
    cleanups.push(() => app.close());
    await app.listen({ host: config.http.host, port: config.http.port });
    const address = app.server.address();
    const port = typeof address === "object" && address ? address.port : config.http.port;
    const host = config.http.host.includes(":") ? `[${config.http.host}]` : config.http.host;
    const url = `http://${host}:${port}`;
    log.info({ url, managerId: config.managerId, topicRoot: config.topicRoot, database: db.kind }, "manager listening");

    let closing: Promise<void> | undefined;
    return {
      url,
      port,
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
        ctx.log.error({ err: (err as Error).message }, "periodic sweep failed");
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
