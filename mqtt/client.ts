import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import type { Logger } from "pino";
import { encodedTraceparent, LIMITS, SizeLimitError, traceCarrierFor, traceCarrierFromUserProperties, traceUserProperties, type TraceCarrier } from "../protocol/index.js";
import { topicMatches } from "./topic-filter.js";
import { messageOf } from "../lib/errors.js";

/** `trace`: the MQTT 5 user properties' trace context, when the connection is MQTT 5 and the PUBLISH carried a valid one. */
export type MessageHandler = (topic: string, payload: Buffer, trace?: TraceCarrier) => void | Promise<void>;

export interface MqttOptions {
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  /** TLS client settings for mqtts:// (CA, client certificate and key). */
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; rejectUnauthorized?: boolean };
  /** Last will, published by the broker when this client vanishes. */
  will?: { topic: string; payload: Buffer; qos?: 0 | 1; retain?: boolean };
  /** false → persistent session (the broker keeps QoS 1 messages while we are away). */
  clean?: boolean;
  keepaliveSeconds?: number;
  reconnectPeriodMs?: number;
  connectTimeoutMs?: number;
  maxPayloadBytes?: number;
  /**
   * 4 (MQTT 3.1.1, the default: every broker here, aedes included) or 5. On MQTT 5 every PUBLISH
   * also carries its envelope's W3C trace context as user properties, and received ones are read.
   */
  protocolVersion?: 4 | 5;
  logger?: Logger;
}

/**
 * An MQTT connection that keeps its subscriptions across reconnects: after EVERY (re)connect it
 * subscribes again to all its filters, whether the broker kept the session or not (wire rule 5),
 * and then calls the `onConnect` hooks (e.g. a proplet announces itself again).
 */
export class MqttConnection {
  private readonly handlers = new Map<string, { qos: 0 | 1; handler: MessageHandler }>();
  private readonly connectHooks: Array<() => void | Promise<void>> = [];
  private readonly maxPayloadBytes: number;
  private closed = false;

  private constructor(
    readonly client: MqttClient,
    private readonly log: Logger | undefined,
    maxPayloadBytes: number,
    readonly protocolVersion: 4 | 5,
  ) {
    this.maxPayloadBytes = maxPayloadBytes;
    client.on("message", (topic, payload, packet) =>
      this.dispatch(topic, payload, protocolVersion === 5 ? traceCarrierFromUserProperties(packet.properties?.userProperties) : undefined),
    );
    client.on("connect", () => {
      // TCP_NODELAY on every (re)connected socket: small MQTT packets must not wait for Nagle.
      (client.stream as { setNoDelay?: (noDelay: boolean) => void } | undefined)?.setNoDelay?.(true);
      void this.afterConnect();
    });
    client.on("reconnect", () => log?.debug("mqtt reconnecting"));
    client.on("offline", () => log?.warn("mqtt offline"));
    client.on("error", (err) => log?.warn({ err: err.message }, "mqtt error"));
  }

  /** Connects; resolves on the first CONNACK, rejects if none arrives within connectTimeoutMs. */
  static async connect(options: MqttOptions): Promise<MqttConnection> {
    const clientOptions: IClientOptions = {
      clientId: options.clientId,
      protocolVersion: options.protocolVersion ?? 4,
      clean: options.clean ?? true,
      keepalive: options.keepaliveSeconds ?? 30,
      reconnectPeriod: options.reconnectPeriodMs ?? 1000,
      connectTimeout: options.connectTimeoutMs ?? 10_000,
      // We resubscribe ourselves after every connect; mqtt.js' own resubscribe would double it.
      resubscribe: false,
      ...(options.username !== undefined ? { username: options.username } : {}),
      ...(options.password !== undefined ? { password: options.password } : {}),
      ...(options.will ? { will: { topic: options.will.topic, payload: options.will.payload, qos: options.will.qos ?? 1, retain: options.will.retain ?? false } } : {}),
      ...(options.tls ?? {}),
    };
    const client = mqtt.connect(options.url, clientOptions);
    const connection = new MqttConnection(client, options.logger, options.maxPayloadBytes ?? LIMITS.mqttPayloadBytes, options.protocolVersion ?? 4);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        client.end(true);
        reject(new Error(`could not connect to the MQTT broker at ${options.url} within ${clientOptions.connectTimeout} ms`));
      }, clientOptions.connectTimeout);
      client.once("connect", () => {
        clearTimeout(timer);
        resolve();
      });
    });
    return connection;
  }

  get connected(): boolean {
    return this.client.connected;
  }

  /** Registers a hook run after every (re)connect, once subscriptions are back in place. */
  onConnect(hook: () => void | Promise<void>): void {
    this.connectHooks.push(hook);
  }

  async subscribe(filter: string, handler: MessageHandler, qos: 0 | 1 = 1): Promise<void> {
    this.handlers.set(filter, { qos, handler });
    if (this.client.connected) await this.client.subscribeAsync(filter, { qos });
  }

  async unsubscribe(filter: string): Promise<void> {
    this.handlers.delete(filter);
    if (this.client.connected) await this.client.unsubscribeAsync(filter);
  }

  /**
   * Publishes with QoS 1 by default. Resolves on PUBACK, which means the broker has it — NOT that
   * the receiver processed it (TOOLCHAIN.md): protocol-level acks do that. Refuses oversized
   * payloads before they reach the broker. On MQTT 5 the trace context goes in the user
   * properties too: `trace` when given, else the envelope's of a payload made by protocol's encode.
   */
  async publish(topic: string, payload: Buffer, options: { qos?: 0 | 1; retain?: boolean; trace?: TraceCarrier } = {}): Promise<void> {
    if (payload.byteLength > this.maxPayloadBytes) {
      throw new SizeLimitError(`refusing to publish ${payload.byteLength} bytes to ${topic}: the limit is ${this.maxPayloadBytes}`);
    }
    const carrier = this.protocolVersion === 5 ? (options.trace ?? this.carrierOf(payload)) : undefined;
    await this.client.publishAsync(topic, payload, {
      qos: options.qos ?? 1,
      retain: options.retain ?? false,
      ...(carrier ? { properties: { userProperties: traceUserProperties(carrier) } } : {}),
    });
  }

  private carrierOf(payload: Buffer): TraceCarrier | undefined {
    const traceparent = encodedTraceparent(payload);
    return traceparent ? traceCarrierFor(traceparent) : undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.endAsync();
  }

  /** Drops the connection without a DISCONNECT, as a crash would (the broker sends the will). */
  async destroy(): Promise<void> {
    this.closed = true;
    await this.client.endAsync(true);
  }

  private async afterConnect(): Promise<void> {
    try {
      const filters = [...this.handlers.entries()];
      if (filters.length > 0) {
        await this.client.subscribeAsync(Object.fromEntries(filters.map(([f, h]) => [f, { qos: h.qos }])));
      }
      for (const hook of this.connectHooks) await hook();
    } catch (err) {
      this.log?.warn({ err: messageOf(err) }, "re-subscribing after connect failed");
    }
  }

  private dispatch(topic: string, payload: Buffer, trace: TraceCarrier | undefined): void {
    for (const [filter, { handler }] of this.handlers) {
      if (!topicMatches(filter, topic)) continue;
      // A handler's failure is logged, never allowed to take the connection (or process) down.
      Promise.resolve()
        .then(() => handler(topic, payload, trace))
        .catch((err: unknown) => this.log?.error({ err: messageOf(err), topic }, "mqtt handler failed"));
    }
  }
}
