import { randomUUID } from "node:crypto";
import type { Static, TSchema } from "@sinclair/typebox";
import { TypeCompiler, type TypeCheck } from "@sinclair/typebox/compiler";
import { SchemaError, SizeLimitError } from "./errors.js";
import { LIMITS } from "./limits.js";
import { newTraceparent } from "./trace.js";
import type { PropletTopicName } from "./topics.js";
import { ManagerOnline, PropletAnnounce, PropletControl, PropletHeartbeat, PropletStatus } from "./messages/proplet.js";
import { ArtifactChunkReply, ArtifactRequest } from "./messages/artifact.js";
import { FunctionDeploy, FunctionInvoke, FunctionReply, FunctionStatus } from "./messages/function.js";
import { SecAggReply, SecAggRequest } from "./messages/secagg.js";
import { TaskAccepted, TaskLog, TaskResult, TaskResultAck, TaskStart, TaskStop } from "./messages/task.js";
import { messageOf } from "../lib/errors.js";

/** The schema of the message carried on each proplet topic. */
export const TOPIC_SCHEMAS = {
  announce: PropletAnnounce,
  heartbeat: PropletHeartbeat,
  status: PropletStatus,
  "tasks/start": TaskStart,
  "tasks/stop": TaskStop,
  "tasks/accepted": TaskAccepted,
  "tasks/result": TaskResult,
  "tasks/result-ack": TaskResultAck,
  "tasks/log": TaskLog,
  control: PropletControl,
  "artifacts/request": ArtifactRequest,
  "artifacts/chunk": ArtifactChunkReply,
  "functions/deploy": FunctionDeploy,
  "functions/status": FunctionStatus,
  "functions/invoke": FunctionInvoke,
  "functions/reply": FunctionReply,
  "secagg/request": SecAggRequest,
  "secagg/reply": SecAggReply,
} as const satisfies Record<PropletTopicName, TSchema>;

export type TopicMessage<N extends PropletTopicName> = Static<(typeof TOPIC_SCHEMAS)[N]>;

const compiled = new Map<TSchema, TypeCheck<TSchema>>();
function checker<S extends TSchema>(schema: S): TypeCheck<S> {
  let check = compiled.get(schema);
  if (!check) {
    check = TypeCompiler.Compile(schema);
    compiled.set(schema, check);
  }
  return check as TypeCheck<S>;
}

/** Validates a parsed value against a schema; throws SchemaError listing the first problems. */
export function validate<S extends TSchema>(schema: S, value: unknown, what = "message"): Static<S> {
  const check = checker(schema);
  if (check.Check(value)) return value;
  const problems = [...check.Errors(value)].slice(0, 5).map((e) => `${e.path || "/"}: ${e.message}`);
  throw new SchemaError(`${what} is invalid: ${problems.join("; ")}`, { problems });
}

/** Parses and validates an MQTT payload. Never throws anything but SchemaError / SizeLimitError. */
export function decodePayload<S extends TSchema>(schema: S, payload: Uint8Array, maxBytes: number = LIMITS.mqttPayloadBytes): Static<S> {
  if (payload.byteLength > maxBytes) {
    throw new SizeLimitError(`payload of ${payload.byteLength} bytes exceeds the ${maxBytes}-byte limit`);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString("utf8"));
  } catch (err) {
    throw new SchemaError(`payload is not JSON: ${messageOf(err)}`);
  }
  return validate(schema, value);
}

export function decodeTopicMessage<N extends PropletTopicName>(name: N, payload: Uint8Array): TopicMessage<N> {
  return decodePayload(TOPIC_SCHEMAS[name], payload) as TopicMessage<N>;
}

export function decodeManagerOnline(payload: Uint8Array): ManagerOnline {
  return decodePayload(ManagerOnline, payload);
}

type EnvelopeKeys = "version" | "messageId" | "timestamp" | "traceparent";
/** The fields of a message that its sender chooses (the envelope is filled in by `encode`). */
export type MessageBody<M> = Omit<M, EnvelopeKeys> & { traceparent?: string };

/**
 * Fills in the envelope, validates the whole message against its schema and serialises it.
 * Refuses (SizeLimitError) a payload over the limit before it reaches the broker: brokers with
 * max_packet_size reset the connection instead of refusing (TOOLCHAIN.md).
 */
export function encode<S extends TSchema>(schema: S, body: MessageBody<Static<S>>, maxBytes: number = LIMITS.mqttPayloadBytes): Buffer {
  const message = {
    version: 1,
    messageId: randomUUID(),
    timestamp: new Date().toISOString(),
    ...body,
    traceparent: (body as { traceparent?: string }).traceparent ?? newTraceparent(),
  };
  validate(schema, message, `outgoing ${(schema as { $id?: string }).$id ?? "message"}`);
  const payload = Buffer.from(JSON.stringify(message), "utf8");
  if (payload.byteLength > maxBytes) {
    throw new SizeLimitError(`outgoing message of ${payload.byteLength} bytes exceeds the ${maxBytes}-byte limit`);
  }
  encodedTraceparents.set(payload, message.traceparent);
  return payload;
}

/**
 * The envelope traceparent of each payload `encode` made, so the MQTT connection can repeat it
 * in the MQTT 5 user properties without parsing the JSON again (weak: gone with the buffer).
 */
const encodedTraceparents = new WeakMap<Uint8Array, string>();

/** The traceparent `encode` put in this payload's envelope; undefined for a payload it did not make. */
export function encodedTraceparent(payload: Uint8Array): string | undefined {
  return encodedTraceparents.get(payload);
}

export function encodeTopicMessage<N extends PropletTopicName>(name: N, body: MessageBody<TopicMessage<N>>): Buffer {
  return encode(TOPIC_SCHEMAS[name], body as MessageBody<Static<(typeof TOPIC_SCHEMAS)[N]>>);
}

export function encodeManagerOnline(body: MessageBody<ManagerOnline>): Buffer {
  return encode(ManagerOnline, body);
}

/**
 * Remembers recently seen message ids, so QoS 1 redeliveries are processed once.
 * Bounded: the oldest ids are forgotten first.
 */
export class MessageDeduplicator {
  private readonly seen = new Set<string>();
  constructor(private readonly capacity = 10_000) {}

  /** True the first time an id is offered, false on every repeat. */
  firstSeen(messageId: string): boolean {
    if (this.seen.has(messageId)) return false;
    this.seen.add(messageId);
    if (this.seen.size > this.capacity) {
      const oldest = this.seen.values().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    return true;
  }
}
