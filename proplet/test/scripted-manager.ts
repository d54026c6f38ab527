/**
 * A "scripted manager" for proplet tests: a real MQTT client that publishes real protocol
 * messages on the proplet's topics and records (validated) what proplets publish. It stands at a
 * true boundary (the broker); the real manager is a separate box.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { MqttConnection } from "../../mqtt/index.js";
import {
  Topics,
  decodeTopicMessage,
  encodeManagerOnline,
  encodeTopicMessage,
  newTraceparent,
  sha256Digest,
  type PropletTopicName,
  type TaskStart,
  type TopicMessage,
} from "../../protocol/index.js";
import { waitFor } from "../../testing/net.js";
import { LIMITS_FOR_TESTS } from "./helpers.js";

export type Seen = { [N in PropletTopicName]: { name: N; message: TopicMessage<N>; at: number } }[PropletTopicName];

export class ScriptedManager {
  readonly seen: Seen[] = [];
  readonly topics: Topics;
  private constructor(
    readonly connection: MqttConnection,
    root: string,
  ) {
    this.topics = new Topics(root);
  }

  static async connect(url: string, root: string): Promise<ScriptedManager> {
    const connection = await MqttConnection.connect({ url, clientId: `scripted-manager-${randomBytes(4).toString("hex")}`, reconnectPeriodMs: 200 });
    const m = new ScriptedManager(connection, root);
    for (const name of ["announce", "heartbeat", "status", "tasks/accepted", "tasks/result", "tasks/log"] as const) {
      await connection.subscribe(m.topics.allProplets(name), (_topic, payload) => {
        // Whatever a proplet publishes must pass the protocol schema: decode throws otherwise.
        const message = decodeTopicMessage(name, payload);
        m.seen.push({ name, message, at: Date.now() } as Seen);
      });
    }
    return m;
  }

  of<N extends PropletTopicName>(name: N, propletId?: string, where: (m: TopicMessage<N>) => boolean = () => true): Array<TopicMessage<N>> {
    return this.seen
      .filter((s) => s.name === name && (propletId === undefined || (s.message as { propletId: string }).propletId === propletId))
      .map((s) => s.message as TopicMessage<N>)
      .filter(where);
  }

  async next<N extends PropletTopicName>(name: N, propletId: string, where: (m: TopicMessage<N>) => boolean = () => true, timeoutMs = 20_000): Promise<TopicMessage<N>> {
    return waitFor(() => this.of(name, propletId, where)[0], timeoutMs, `${name} from ${propletId}`);
  }

  result(propletId: string, runId: string, timeoutMs = 20_000) {
    return this.next("tasks/result", propletId, (m) => m.runId === runId, timeoutMs);
  }

  /** A task.start with sensible defaults; returns the message body sent. */
  async start(propletId: string, module: Uint8Array, over: Partial<Omit<TaskStart, "version" | "messageId" | "timestamp" | "kind">> = {}) {
    const body = {
      kind: "task.start" as const,
      propletId,
      taskId: `task-${randomUUID()}`,
      runId: `run-${randomUUID()}`,
      attempt: 1,
      runtime: "wasi-p1" as const,
      artifact: { digest: sha256Digest(module), location: { kind: "inline" as const, data: Buffer.from(module).toString("base64") } },
      entrypoint: { kind: "wasi" as const },
      args: [],
      env: {},
      stdin: "",
      limits: LIMITS_FOR_TESTS,
      receiptNonce: randomBytes(16).toString("base64url"),
      traceparent: newTraceparent(),
      ...over,
    };
    await this.send(propletId, "tasks/start", body);
    return body;
  }

  async send<N extends PropletTopicName>(propletId: string, name: N, body: Parameters<typeof encodeTopicMessage<N>>[1]): Promise<void> {
    await this.connection.publish(this.topics.proplet(propletId, name), encodeTopicMessage(name, body));
  }

  async raw(propletId: string, name: PropletTopicName, payload: Buffer | string): Promise<void> {
    await this.connection.publish(this.topics.proplet(propletId, name), Buffer.from(payload));
  }

  async ack(propletId: string, taskId: string, runId: string): Promise<void> {
    await this.send(propletId, "tasks/result-ack", { kind: "task.result-ack", propletId, taskId, runId });
  }

  async stop(propletId: string, taskId: string, runId: string, reason = "stopped by the test"): Promise<void> {
    await this.send(propletId, "tasks/stop", { kind: "task.stop", propletId, taskId, runId, reason });
  }

  async online(): Promise<void> {
    await this.connection.publish(this.topics.managerOnline, encodeManagerOnline({ kind: "manager.online", managerId: "scripted" }));
  }

  close(): Promise<void> {
    return this.connection.close();
  }
}
