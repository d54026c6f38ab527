/**
 * The few span helpers the boxes use. They go through @opentelemetry/api only: with tracing off
 * (no SDK registered) every call is the API's no-op, so call sites cost a function call and an
 * object, not a span.
 */
import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
  type Tracer,
} from "@opentelemetry/api";
import { BoundedMap } from "../bounded-map.js";

export { SpanKind, type Attributes, type Context, type Span, type SpanContext };

/** The tracer of one box (its instrumentation scope): "propeller-manager", "proplet", "kbs". */
export function tracer(box: string): Tracer {
  return trace.getTracer(box);
}

export interface SpanOptions {
  kind?: SpanKind;
  /** Parent context (default: the active one). */
  parent?: Context;
  /** Links (e.g. to the message a span answers when it is not its parent). */
  links?: SpanContext[];
  /** When the span began, if before now (ms since the epoch). */
  startTime?: number;
}

/**
 * Runs `fn` inside a new span, active for everything `fn` awaits (so messages it sends and log
 * lines it writes name it), and ends the span when `fn` settles: error status and the exception's
 * type and message when it throws (messages here never hold secrets: lib/errors).
 */
export async function inSpan<T>(t: Tracer, name: string, attributes: Attributes, fn: (span: Span) => Promise<T>, options: SpanOptions = {}): Promise<T> {
  const parent = options.parent ?? context.active();
  const span = t.startSpan(
    name,
    {
      attributes,
      ...(options.kind !== undefined ? { kind: options.kind } : {}),
      ...(options.links ? { links: options.links.map((c) => ({ context: c })) } : {}),
      ...(options.startTime !== undefined ? { startTime: options.startTime } : {}),
    },
    parent,
  );
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (err) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.name : "error" });
    span.setAttribute("exception.type", err instanceof Error ? err.name : typeof err);
    throw err;
  } finally {
    span.end();
  }
}

/** Marks a span failed with a stable error code (the run's outcome, not an exception). */
export function failSpan(span: Span, code: string): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message: code });
}

/** The context a W3C traceparent (an MQTT envelope's, an HTTP header's) names, with its tracestate if any; the root when invalid. */
export function contextFromTraceparent(traceparent: string | undefined, tracestate?: string): Context {
  if (!traceparent) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, tracestate ? { traceparent, tracestate } : { traceparent });
}

/** The context a received MQTT message names: its traceparent, and the tracestate its MQTT 5 user properties brought. */
export function contextOfMessage(message: { traceparent: string; tracestate?: string }): Context {
  return contextFromTraceparent(message.traceparent, message.tracestate);
}

/** `traceparent` (and `tracestate`) headers for an outgoing HTTP request from the active span; empty when tracing is off. */
export function traceHeaders(): Record<string, string> {
  const headers: Record<string, string> = {};
  propagation.inject(context.active(), headers);
  return headers;
}

/** The active span's ids, for log lines (a pino mixin); empty when no span is recording. */
export function activeTraceFields(): { trace_id?: string; span_id?: string } {
  const span = trace.getActiveSpan();
  if (!span) return {};
  const c = span.spanContext();
  if (!trace.isSpanContextValid(c)) return {};
  return { trace_id: c.traceId, span_id: c.spanId };
}

/**
 * The span context each run's trace continues from, by run id: the manager's steps of one run
 * happen in different passes (REST request, scheduling pass, result handler), so the run's
 * latest span is remembered here between them. Memory only and bounded: after a restart (or for
 * the oldest of very many runs in flight) the next step starts a new trace, linked to nothing.
 */
export class RunTraces {
  private readonly contexts = new BoundedMap<string, SpanContext>({ maxEntries: 50_000, maxAgeMs: 24 * 3600_000 });

  remember(runId: string, span: Span): void {
    const c = span.spanContext();
    if (trace.isSpanContextValid(c)) this.contexts.set(runId, c);
  }

  /** The context to start the run's next span in (the root when unknown or tracing is off). */
  parentOf(runId: string): Context {
    const c = this.contexts.get(runId);
    return c ? trace.setSpanContext(ROOT_CONTEXT, c) : ROOT_CONTEXT;
  }

  forget(runId: string): void {
    this.contexts.delete(runId);
  }
}
