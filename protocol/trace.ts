import { randomBytes } from "node:crypto";
import { trace } from "@opentelemetry/api";

/** W3C trace context `traceparent` header value (version 00). */
export const TRACEPARENT_PATTERN = "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$";

/**
 * The traceparent of the span active now, when tracing is on and a span is recording (so a message
 * sent inside a span names that span as its parent). With tracing off the API's no-op answers
 * undefined at the cost of one call.
 */
function activeTraceparent(): string | undefined {
  const span = trace.getActiveSpan();
  if (!span) return undefined;
  const { traceId, spanId, traceFlags } = span.spanContext();
  if (!trace.isSpanContextValid(span.spanContext())) return undefined;
  return `00-${traceId}-${spanId}-${(traceFlags & 0xff).toString(16).padStart(2, "0")}`;
}

/**
 * The W3C trace context of one MQTT message outside its JSON: the MQTT 5 PUBLISH user properties
 * `traceparent` (and `tracestate` when the span has one). Sent only on an MQTT 5 connection (aedes
 * speaks 3.1.1 only); the envelope's `traceparent` says the same and stays the carrier that always
 * works, and the one a receiver falls back on when the properties are absent or invalid.
 */
export interface TraceCarrier {
  traceparent: string;
  tracestate?: string;
}

const TRACEPARENT_RE = new RegExp(TRACEPARENT_PATTERN);
/** W3C trace-context: at most 32 list members, 512 characters in all; keys and values of the spec's alphabet. */
const TRACESTATE_MAX_CHARS = 512;
const TRACESTATE_MAX_MEMBERS = 32;
const TRACESTATE_MEMBER_RE = /^(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;

export function validTraceparent(value: unknown): value is string {
  return typeof value === "string" && value.length === 55 && TRACEPARENT_RE.test(value) && !/^00-0{32}-/.test(value) && !/^00-[0-9a-f]{32}-0{16}-/.test(value);
}

export function validTracestate(value: unknown): value is string {
  if (typeof value !== "string" || value.length === 0 || value.length > TRACESTATE_MAX_CHARS) return false;
  const members = value.split(",").map((m) => m.trim()).filter((m) => m !== "");
  return members.length > 0 && members.length <= TRACESTATE_MAX_MEMBERS && members.every((m) => TRACESTATE_MEMBER_RE.test(m));
}

/**
 * The carrier in a received PUBLISH's user properties, or undefined when there is none or it is
 * not valid (a repeated or malformed `traceparent`; a bad `tracestate` is dropped on its own).
 */
export function traceCarrierFromUserProperties(properties: Readonly<Record<string, string | string[]>> | undefined): TraceCarrier | undefined {
  if (!properties) return undefined;
  const traceparent = properties.traceparent;
  if (!validTraceparent(traceparent)) return undefined;
  const tracestate = properties.tracestate;
  return validTracestate(tracestate) ? { traceparent, tracestate } : { traceparent };
}

/** The user properties that carry `carrier` on an outgoing MQTT 5 PUBLISH. */
export function traceUserProperties(carrier: TraceCarrier): Record<string, string> {
  return carrier.tracestate ? { traceparent: carrier.traceparent, tracestate: carrier.tracestate } : { traceparent: carrier.traceparent };
}

/**
 * The carrier for a message whose envelope says `traceparent`: the active span's `tracestate`
 * goes with it when that span is the one the envelope names.
 */
export function traceCarrierFor(traceparent: string): TraceCarrier {
  const span = trace.getActiveSpan();
  const tracestate = span && activeTraceparent() === traceparent ? span.spanContext().traceState?.serialize() : undefined;
  return tracestate && validTracestate(tracestate) ? { traceparent, tracestate } : { traceparent };
}

/**
 * A received message with the user properties' trace context preferred over its envelope's
 * (both say the same when the sender is Propeller; a bridge or gateway may rewrite the
 * properties only). Without a carrier the message is returned as it is.
 */
export function adoptTraceCarrier<M extends { traceparent: string }>(message: M, carrier: TraceCarrier | undefined): M & { tracestate?: string } {
  if (!carrier) return message;
  return { ...message, traceparent: carrier.traceparent, ...(carrier.tracestate ? { tracestate: carrier.tracestate } : {}) };
}

export function newTraceparent(): string {
  return activeTraceparent() ?? `00-${randomBytes(16).toString("hex")}-${randomBytes(8).toString("hex")}-01`;
}

/**
 * A child span of the same trace: same trace id, new parent id. When a span is active (tracing
 * on), it is that span: it is already a child of `parent` wherever the receiver joined the trace.
 */
export function childTraceparent(parent: string | undefined): string {
  const active = activeTraceparent();
  if (active) return active;
  const match = parent ? /^00-([0-9a-f]{32})-[0-9a-f]{16}-([0-9a-f]{2})$/.exec(parent) : null;
  if (!match) return newTraceparent();
  return `00-${match[1]}-${randomBytes(8).toString("hex")}-${match[2]}`;
}

/**
 * Span names of one run's trace (docs/observability.md), shared by every box so that a trace
 * reads the same whoever emits it. REST request → run queued → scheduled → task.start published →
 * received → artifact fetch → attestation and key release (the KBS's spans joined through the
 * HTTP traceparent header) → decrypt → run → result published → received → receipt verified →
 * stored.
 */
export const SPAN = {
  /** manager: a task created over REST (POST /tasks). */
  taskCreate: "propeller.task.create",
  /** manager: a task started over REST (POST /tasks/:id/start). */
  taskStart: "propeller.task.start",
  /** manager: one run queued (the run's first span; the scheduler joins it later). */
  runQueue: "propeller.run.queue",
  /** manager: a queued run placed on a proplet. */
  runSchedule: "propeller.run.schedule",
  /** manager: one delivery of task.start published (PRODUCER). */
  startPublish: "propeller.task.start.publish",
  /** proplet: task.start received and the run carried out (CONSUMER; parent: the envelope's traceparent). */
  startReceive: "propeller.task.start.receive",
  /** proplet: the artifact fetched and its digest checked. */
  artifactFetch: "propeller.artifact.fetch",
  /** proplet: the workload key obtained from the KBS (attesting when the token is not cached). */
  keyRelease: "propeller.kbs.key-release",
  /** proplet: one KBS attestation (auth, evidence, attest → EAR token). */
  attest: "propeller.kbs.attest",
  /** proplet: the encrypted workload decrypted in memory and its plaintext digest checked. */
  decrypt: "propeller.workload.decrypt",
  /** proplet: the Wasm run on its runtime (instantiate and run, in a worker). */
  wasmRun: "propeller.wasm.run",
  /** proplet: the receipt signed over the result. */
  receiptSign: "propeller.receipt.sign",
  /** proplet: task.result published (PRODUCER). */
  resultPublish: "propeller.task.result.publish",
  /** manager: task.result received (CONSUMER; parent: the envelope's traceparent). */
  resultReceive: "propeller.task.result.receive",
  /** manager: the receipt verified against what the run was dispatched with. */
  receiptVerify: "propeller.receipt.verify",
  /** manager: the run's outcome, result and receipt stored. */
  runStore: "propeller.run.store",
  /** kbs: evidence appraised and an EAR token issued (or refused). */
  kbsAttest: "kbs.attest",
  /** kbs: a resource released (or refused) under a token. */
  kbsRelease: "kbs.resource.release",
} as const;

/**
 * Span attribute keys. Never a secret: no keys, tokens, env values, secretEnv names' values,
 * inputs or outputs (docs/observability.md; the tracing test scans every attribute for them).
 */
export const ATTR = {
  taskId: "propeller.task.id",
  runId: "propeller.run.id",
  propletId: "propeller.proplet.id",
  attempt: "propeller.run.attempt",
  delivery: "propeller.run.delivery",
  runtime: "propeller.runtime",
  tee: "propeller.tee",
  confidential: "propeller.confidential",
  outcome: "propeller.outcome",
  errorCode: "propeller.error.code",
  artifactSource: "propeller.artifact.source",
  artifactBytes: "propeller.artifact.bytes",
  artifactDigest: "propeller.artifact.digest",
  /** kbs:///repo/type/tag: the resource's name, not its value. */
  kbsResource: "propeller.kbs.resource",
  tokenCached: "propeller.kbs.token_cached",
  /** On propeller.run.store: false when the run moved meanwhile (an accept racing the result) and the handler reads it again. */
  runStored: "propeller.run.stored",
  receiptValid: "propeller.receipt.valid",
  receiptAttested: "propeller.receipt.attested",
  messagingSystem: "messaging.system",
  messagingDestination: "messaging.destination.name",
  messagingOperation: "messaging.operation.type",
} as const;
