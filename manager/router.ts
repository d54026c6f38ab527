/**
 * Incoming MQTT messages → handlers: the one place the manager reads what proplets publish. Every
 * payload is decoded and validated once by the protocol codec;
 * a malformed one, or one whose propletId differs from the proplet id in its topic (the identity
 * a broker ACL vouches for), is logged, counted and dropped. Nothing here can crash the manager.
 */
import {
  MessageDeduplicator,
  PROPLET_PUBLISHES,
  PropellerError,
  adoptTraceCarrier,
  decodeTopicMessage,
  type TraceCarrier,
  type PropletTopicName,
  type TopicMessage,
  type Topics,
} from "../protocol/index.js";
import type { MqttConnection } from "../mqtt/index.js";
import type { ManagerContext } from "./context.js";
import type { Dispatcher } from "./dispatch/dispatcher.js";
import type { Liveness } from "./liveness/liveness.js";
import { messageOf } from "../lib/errors.js";

/** Topics the manager listens on: everything proplets publish (the same list the broker ACLs grant). */
export const MANAGER_SUBSCRIBES: readonly PropletTopicName[] = PROPLET_PUBLISHES;

/** Chunked artifact delivery (manager/delivery/chunks.ts). */
export interface ArtifactRequestHandler {
  onRequest(propletId: string, msg: TopicMessage<"artifacts/request">): Promise<void>;
}

/** Warm function invocations (manager/invocations). */
export interface FunctionMessageHandler {
  onReply(msg: TopicMessage<"functions/reply">): void;
  onStatus(msg: TopicMessage<"functions/status">): Promise<void>;
}

/** The services the router hands typed, validated messages to. */
export interface RouterHandlers {
  liveness: Liveness;
  dispatcher: Dispatcher;
  artifacts?: ArtifactRequestHandler;
  functions?: FunctionMessageHandler;
  /** Secure aggregation of federated rounds (manager/fl/secagg.ts): replies, and undecodable ones. */
  secagg?: {
    onReply(propletId: string, msg: TopicMessage<"secagg/reply">): void;
    onMalformed(propletId: string, reason: string): void;
  };
  /** Live output (task.log stdout/stderr), manager/logs. */
  logs?: { onOutput(senderId: string, msg: TopicMessage<"tasks/log">): Promise<void> };
}

export class Router {
  private readonly dedup = new MessageDeduplicator(10_000);
  private readonly inFlight = new Set<Promise<void>>();
  private readonly presence = new Map<string, Promise<void>>();

  constructor(
    private readonly ctx: ManagerContext,
    private readonly topics: Topics,
    private readonly handlers: RouterHandlers,
  ) {}

  async subscribe(mqtt: MqttConnection): Promise<void> {
    for (const name of MANAGER_SUBSCRIBES) {
      await mqtt.subscribe(this.topics.allProplets(name), (topic, payload, trace) => this.track(this.handle(topic, payload, trace)));
    }
  }

  /** Waits (bounded) for messages being handled, before the database closes. */
  async drain(timeoutMs = 5000): Promise<void> {
    await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  /**
   * Presence messages of one proplet (announce, heartbeat, status) are applied one at a time in
   * arrival order. Handled concurrently, a heartbeat sent just before a proplet's "offline" could
   * commit after it and mark the proplet alive again.
   */
  private inPresenceOrder(propletId: string, apply: () => Promise<void>): Promise<void> {
    const previous = this.presence.get(propletId) ?? Promise.resolve();
    const next = previous.then(apply, apply);
    const settled = next.catch(() => undefined);
    this.presence.set(propletId, settled);
    // The chain forgets a proplet once its last message is applied (bounded by proplets with messages in hand).
    void settled.then(() => {
      if (this.presence.get(propletId) === settled) this.presence.delete(propletId);
    });
    return next;
  }

  private track(p: Promise<void>): Promise<void> {
    this.inFlight.add(p);
    return p.finally(() => this.inFlight.delete(p));
  }

  private async handle(topic: string, payload: Buffer, trace: TraceCarrier | undefined): Promise<void> {
    const parsed = this.topics.parse(topic);
    if (!parsed) return;
    const { propletId, name } = parsed;
    let msg;
    try {
      // The MQTT 5 user properties' trace context (already validated) wins over the envelope's.
      msg = adoptTraceCarrier(decodeTopicMessage(name, payload), trace);
    } catch (err) {
      this.ctx.counters.inc("malformedMessages");
      this.ctx.log.warn({ topic, bytes: payload.byteLength, err: messageOf(err) }, "malformed MQTT message dropped");
      // A secure-aggregation session records what its participants' topics carried that did not fit.
      if (name === "secagg/reply") this.handlers.secagg?.onMalformed(propletId, messageOf(err));
      return;
    }
    if (msg.propletId !== propletId) {
      this.ctx.counters.inc("senderMismatches");
      this.ctx.log.warn({ topic, claimed: msg.propletId }, "message names another proplet than its topic; dropped");
      if (name === "secagg/reply") this.handlers.secagg?.onMalformed(propletId, `the message names proplet ${msg.propletId}`);
      return;
    }
    // QoS 1 may deliver twice. Results are exempt: a repeat must be acknowledged again. So are
    // secure-aggregation replies: their session refuses a repeat and records it (a replay).
    if (name !== "tasks/result" && name !== "secagg/reply" && !this.dedup.firstSeen(msg.messageId)) return;
    const { liveness, dispatcher, artifacts, functions, logs } = this.handlers;
    try {
      switch (msg.kind) {
        case "proplet.announce":
          return await this.inPresenceOrder(propletId, () => liveness.onAnnounce(msg));
        case "proplet.heartbeat":
          return await this.inPresenceOrder(propletId, () => liveness.onHeartbeat(msg));
        case "proplet.status":
          return await this.inPresenceOrder(propletId, () => liveness.onStatus(msg));
        case "task.accepted":
          return await dispatcher.onAccepted(propletId, msg);
        case "task.result":
          return await dispatcher.onResult(propletId, msg);
        case "artifact.request":
          return await artifacts?.onRequest(propletId, msg);
        case "task.log":
          this.ctx.log.debug({ runId: msg.runId, stream: msg.stream, seq: msg.seq }, "task log");
          if (msg.stream === "progress") return await dispatcher.onProgress(propletId, msg);
          return await logs?.onOutput(propletId, msg);
        case "function.reply":
          return functions?.onReply(msg);
        case "function.status":
          return await functions?.onStatus(msg);
        case "secagg.reply":
          return this.handlers.secagg?.onReply(propletId, msg);
        default:
          return;
      }
    } catch (err) {
      this.ctx.counters.inc("handlerErrors");
      this.ctx.log.error({ topic, err: messageOf(err), code: err instanceof PropellerError ? err.code : undefined }, "handling an MQTT message failed");
    }
  }
}
