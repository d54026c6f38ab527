/**
 * The proplet's MQTT side: the connection, presence (status, announce, heartbeat, last will),
 * inbound validation and de-duplication by message id. The dispatch lease (task.start →
 * task.accepted → task.result, kept until task.result-ack) and stop are proplet/lease/leases.ts.
 *
 * Decisions (documented here because the manager relies on them):
 * - A `task.start` beyond capacity (maxConcurrency, or the memory offered) is NOT accepted: no
 *   `task.accepted`, no result. The manager's lease times out and redelivers (to us or another
 *   proplet), so a busy proplet never turns a healthy task into a failure. A start that can never
 *   fit (its memory limit above all we offer, an unsupported runtime, a confidential workload) is
 *   answered with a failed result at once.
 * - De-duplication: by run id first (a start for a running run re-sends `task.accepted`; for a
 *   finished run re-sends its result, or is ignored once acknowledged), then by message id for
 *   everything else. A run id never runs twice on this proplet.
 * - Every result send is a fresh message (new messageId): the manager de-duplicates results by
 *   run id and must acknowledge each copy; a copy with a known messageId could be dropped unacked.
 * - A stop for a run this proplet does not know answers with a "stopped" result, so the manager
 *   is not left waiting; the run id is then never started here. That result has no receipt: without
 *   the start there is no receipt nonce to bind (every result answering a start has one).
 * - Confidential runs ("TEE and confidential runs" in README.md): the artifact is the ciphertext (its
 *   digest checked as for any artifact), the key comes from the KBS under attestation, the
 *   plaintext exists only in memory and is zeroed after the run; the receipt is signed by the
 *   attested receipt key.
 */
import type { Logger } from "pino";
import { MqttConnection } from "../../mqtt/index.js";
import {
  MessageDeduplicator,
  Topics,
  decodeManagerOnline,
  adoptTraceCarrier,
  decodeTopicMessage,
  encodeTopicMessage,
  type PropletTopicName,
  type TopicMessage,
  type PublicJwk,
} from "../../protocol/index.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { httpSource, inlineSource, mqttSource, ociSource, type ArtifactSources, type MqttSource } from "../artifacts/index.js";
import type { PropletConfig } from "../config.js";
import { Leases } from "../lease/leases.js";
import type { PropletCounters, PropletTrust } from "../lease/types.js";

export type { PropletCounters, PropletTrust } from "../lease/types.js";
import type { Runtime } from "../execute/runtime.js";
import { FunctionHost } from "../invoke/host.js";
import { HeldUpdates } from "../secagg/held.js";
import { SecAggClient, type SecAggClientDeps } from "../secagg/client.js";
import { messageOf } from "../../lib/errors.js";
import { PropletMetrics } from "../telemetry/metrics.js";
import { startMetricsServer } from "../telemetry/server.js";

export const PROPLET_SOFTWARE = { name: "propeller-proplet", version: "0.1.0" } as const;


export class PropletAgent {
  readonly counters: PropletCounters = { invalidMessages: 0, duplicateMessages: 0, busyRefusals: 0, runsStarted: 0, resultsSent: 0, resultsDropped: 0 };
  private readonly topics: Topics;
  private readonly dedup = new MessageDeduplicator();
  /** The start → result lease of every run (proplet/lease/). */
  private readonly leases: Leases;
  private readonly sources: ArtifactSources;
  private readonly mqttArtifacts: MqttSource;
  private connection: MqttConnection | undefined;

  /** Whether the broker connection is up right now (for health checks). */
  get connected(): boolean {
    return this.connection?.connected === true;
  }
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private resendTimer: NodeJS.Timeout | undefined;
  /** Set by kill() and close(): nothing more is published about runs. */
  private stopping = false;
  /** Warm functions served synchronously (invocations, proplet/invoke/). */
  private readonly functions: FunctionHost;
  /** Secure aggregation: updates held on this proplet, and the sessions that mask them. */
  private readonly held = new HeldUpdates();
  private readonly secagg: SecAggClient;
  /** The Prometheus export, served when `metrics` is configured. */
  readonly metrics: PropletMetrics;
  private metricsServer: { url: string; close(): Promise<void> } | undefined;

  /** Where GET /metrics is served, when it is. */
  get metricsUrl(): string | undefined {
    return this.metricsServer?.url;
  }

  constructor(
    private readonly config: PropletConfig,
    private readonly runtimes: Runtime[],
    private readonly log: Logger,
    private readonly trust: PropletTrust,
    hooks: { beforeSecAggReply?: SecAggClientDeps["beforeReply"]; afterSecAggReply?: SecAggClientDeps["afterReply"]; onHeld?: (runId: string, update: Uint8Array) => void } = {},
  ) {
    this.topics = new Topics(config.topicRoot);
    const workDir = config.workDir ?? join(tmpdir(), `propeller-proplet-${config.id}`);
    this.mqttArtifacts = mqttSource({
      ...config.mqttArtifacts,
      dir: join(workDir, "artifacts"),
      logger: log,
      transport: {
        connected: () => this.connection?.connected === true,
        request: (digest, indices) => this.publish("artifacts/request", { kind: "artifact.request", propletId: config.id, digest, indices }),
      },
    });
    const oci = ociSource({ ...config.oci, cacheDir: config.oci.cacheDir ?? join(workDir, "oci-cache"), logger: log });
    this.sources = {
      inline: inlineSource,
      http: httpSource({ timeoutMs: config.httpTimeoutMs }),
      oci,
      mqtt: this.mqttArtifacts,
    };
    this.metrics = new PropletMetrics({
      counters: this.counters,
      running: () => this.leases.size,
      maxConcurrency: config.maxConcurrency,
      freeMemoryBytes: () => this.freeMemoryBytes(),
    });
    this.metrics.addCache("oci", () => oci.cacheStats());
    this.leases = new Leases({
      config,
      runtimes,
      sources: this.sources,
      trust,
      log,
      counters: this.counters,
      metrics: this.metrics,
      publish: (name, body) => this.publish(name, body),
      connected: () => this.connection?.connected === true,
      stopping: () => this.stopping,
      duplicate: (messageId) => this.duplicate(messageId),
      held: this.held,
      ...(hooks.onHeld ? { onHeld: hooks.onHeld } : {}),
    });
    this.secagg = new SecAggClient({
      propletId: config.id,
      held: this.held,
      log,
      send: (body) => this.publish("secagg/reply", body),
      duplicate: (messageId) => this.duplicate(messageId),
      ...(hooks.beforeSecAggReply ? { beforeReply: hooks.beforeSecAggReply } : {}),
      ...(hooks.afterSecAggReply ? { afterReply: hooks.afterSecAggReply } : {}),
    });
    this.functions = new FunctionHost({
      sources: this.sources,
      artifactMaxBytes: config.artifactMaxBytes,
      log,
      sendStatus: (body) => this.publish("functions/status", body),
      sendReply: (body) => this.publish("functions/reply", body),
    });
  }

  async start(): Promise<void> {
    const { config } = this;
    const will = encodeTopicMessage("status", { kind: "proplet.status", propletId: config.id, state: "offline", reason: "connection lost (last will)" });
    const connection = await MqttConnection.connect({
      url: config.mqtt.url,
      // `<identity>:<suffix>`: a broker that binds client ids to certificate identities (mqtt/security) accepts it.
      clientId: `${config.id}:proplet`,
      ...(config.mqtt.username !== undefined ? { username: config.mqtt.username } : {}),
      ...(config.mqtt.password !== undefined ? { password: config.mqtt.password } : {}),
      ...(config.mqtt.tls ? { tls: config.mqtt.tls } : {}),
      ...(config.mqtt.protocolVersion ? { protocolVersion: config.mqtt.protocolVersion } : {}),
      will: { topic: this.topics.proplet(config.id, "status"), payload: will, qos: 1 },
      // Short keepalive: the broker notices a vanished proplet (and sends the will) within ~1.5x this.
      keepaliveSeconds: 10,
      logger: this.log,
    });
    this.connection = connection;
    await Promise.all([
      this.on(connection, "tasks/start", (m) => this.leases.onStart(m)),
      this.on(connection, "tasks/stop", (m) => this.leases.onStop(m)),
      this.on(connection, "tasks/result-ack", (m) => this.leases.onResultAck(m)),
      this.on(connection, "control", (m) => {
        if (m.action === "reannounce") return this.presence("control reannounce");
      }),
      this.on(connection, "artifacts/chunk", (m) => this.mqttArtifacts.onReply(m)),
      this.on(connection, "secagg/request", (m) => this.secagg.onRequest(m)),
      this.on(connection, "functions/deploy", (m) => this.functions.onDeploy(m)),
      // Not awaited: invocations run concurrently (the pool bounds them); the handler never rejects.
      this.on(connection, "functions/invoke", (m) => void this.functions.onInvoke(m).catch((err: unknown) => this.log.warn({ err: messageOf(err) }, "function reply not sent"))),
    ]);
    await connection.subscribe(this.topics.managerOnline, (_topic, payload) => {
      try {
        decodeManagerOnline(payload);
      } catch (err) {
        return this.invalid("manager/online", err);
      }
      return this.presence("manager online");
    });
    // After EVERY (re)connect, once the subscriptions are back: online, announce, resend results.
    connection.onConnect(() => this.metrics.mqttReconnects.inc());
    connection.onConnect(() => this.presence("reconnected"));
    connection.onConnect(() => this.mqttArtifacts.onReconnect());
    await this.presence("started");
    if (config.metrics) {
      this.metricsServer = await startMetricsServer({ ...config.metrics, expose: () => this.metrics.expose(), log: this.log });
      this.log.info({ url: this.metricsServer.url, token: config.metrics.token !== null }, "metrics served");
      if (config.metrics.token === null && !["127.0.0.1", "::1", "localhost"].includes(config.metrics.host)) {
        this.log.warn({ url: this.metricsServer.url }, "metrics are served beyond loopback without a token: anyone who reaches the port reads the proplet's load; set metrics.token (PROPELLER_METRICS_TOKEN_FILE)");
      }
    }

    this.heartbeatTimer = setInterval(() => void this.heartbeat(), config.heartbeatIntervalMs);
    this.resendTimer = setInterval(() => void this.leases.resendResults(false), Math.min(config.resultResendMs, 1000));
    this.log.info({ propletId: config.id, topicRoot: config.topicRoot, maxConcurrency: config.maxConcurrency }, "proplet online");
  }

  /** Graceful: no new work, running work abandoned (the manager applies its loss policy), offline status, DISCONNECT. */
  async close(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.clearTimers();
    const running = this.leases.abortAll("the proplet is shutting down");
    void this.functions.close();
    let saidOffline = false;
    if (this.connection?.connected) {
      // Bounded: a QoS 1 publish waits for its PUBACK, which a dying broker may never send.
      const offline = this.publish("status", { kind: "proplet.status", propletId: this.config.id, state: "offline", reason: "shutdown" }).then(
        () => true,
        () => false,
      );
      saidOffline = await Promise.race([offline, new Promise<false>((r) => setTimeout(() => r(false), 2000).unref())]);
    }
    await running;
    await this.mqttArtifacts.close();
    // A clean DISCONNECT suppresses the last will, so it is sent only once the broker took the
    // "offline" status; otherwise the connection is dropped and the broker publishes the will:
    // either way the manager learns the proplet is gone.
    if (this.connection?.connected && saidOffline) await this.connection.close();
    else await this.connection?.destroy();
  }

  /** As a crash: no DISCONNECT (the broker publishes the will), workers terminated, no result sent. */
  async kill(): Promise<void> {
    this.stopping = true;
    this.clearTimers();
    const running = this.leases.abortAll("the proplet was killed");
    void this.functions.close();
    await this.connection?.destroy();
    await running;
  }

  private clearTimers(): void {
    clearInterval(this.heartbeatTimer);
    clearInterval(this.resendTimer);
    void this.metricsServer?.close();
  }

  private freeMemoryBytes(): number {
    return Math.max(0, this.config.memoryBytes - this.leases.reservedMemory());
  }


  // ---- inbound -------------------------------------------------------------------------------

  /** Subscribes to one of our topics; every message is validated and must name this proplet. */
  private on<N extends PropletTopicName>(connection: MqttConnection, name: N, handler: (m: TopicMessage<N>) => void | Promise<void>): Promise<void> {
    const topic = this.topics.proplet(this.config.id, name);
    return connection.subscribe(topic, async (received, payload, trace) => {
      const parsed = this.topics.parse(received);
      if (!parsed || parsed.propletId !== this.config.id || parsed.name !== name) return this.invalid(received, new Error("topic is not this proplet's"));
      let message: TopicMessage<N>;
      try {
        // The MQTT 5 user properties' trace context (already validated) wins over the envelope's.
        message = adoptTraceCarrier(decodeTopicMessage(name, payload), trace);
      } catch (err) {
        return this.invalid(received, err);
      }
      if ((message as { propletId: string }).propletId !== this.config.id) {
        return this.invalid(received, new Error(`message names proplet "${(message as { propletId: string }).propletId}"`));
      }
      if (this.stopping) return;
      await handler(message);
    });
  }

  private invalid(topic: string, err: unknown): void {
    this.counters.invalidMessages++;
    this.log.warn({ topic, err: messageOf(err)?.slice(0, 500) }, "dropped an invalid message");
  }

  private duplicate(messageId: string): boolean {
    if (this.dedup.firstSeen(messageId)) return false;
    this.counters.duplicateMessages++;
    this.log.debug({ messageId }, "dropped a repeated message");
    return true;
  }







  // ---- outbound ------------------------------------------------------------------------------






  /** Online status, announce, and every unacknowledged result: after each connect and on request. */
  private async presence(why: string): Promise<void> {
    if (this.stopping) return;
    this.log.debug({ why }, "announcing");
    try {
      await this.publish("status", { kind: "proplet.status", propletId: this.config.id, state: "online" });
      await this.publish("announce", {
        kind: "proplet.announce",
        propletId: this.config.id,
        name: this.config.name,
        software: { ...PROPLET_SOFTWARE },
        capabilities: {
          runtimes: this.runtimes.map((r) => r.kind),
          artifactSources: ["inline", "http", "oci", "mqtt"],
          memoryBytes: this.config.memoryBytes,
          maxConcurrency: this.config.maxConcurrency,
          tee: this.trust.attestation ? { type: this.trust.attestation.tee } : null,
          tags: this.config.tags,
        },
        running: this.leases.runningRefs(),
        identityKey: this.trust.identity.publicJwk as PublicJwk,
      });
    } catch (err) {
      this.log.warn({ err: messageOf(err) }, "announcing failed (retried on the next connect)");
    }
    await this.leases.announceEndpoints();
    await this.leases.resendResults(true);
  }

  private async heartbeat(): Promise<void> {
    if (this.stopping || !this.connection?.connected) return;
    await this.publish("heartbeat", {
      kind: "proplet.heartbeat",
      propletId: this.config.id,
      running: this.leases.runningRefs(),
      load: { running: this.leases.size, maxConcurrency: this.config.maxConcurrency },
      freeMemoryBytes: this.freeMemoryBytes(),
      intervalMs: this.config.heartbeatIntervalMs,
    }).catch((err: unknown) => this.log.debug({ err: messageOf(err) }, "heartbeat not sent"));
  }


  private async publish<N extends PropletTopicName>(name: N, body: Parameters<typeof encodeTopicMessage<N>>[1]): Promise<void> {
    if (!this.connection) throw new Error("not connected");
    await this.connection.publish(this.topics.proplet(this.config.id, name), encodeTopicMessage(name, body));
  }
}
