/**
 * lib/tracing without services: when it is on and off (standard OTEL_* variables), that off costs
 * nothing observable (no provider, no headers, no log fields), and — with an in-memory provider
 * standing in for the SDK's exporter — that spans nest, messages and HTTP requests carry the active
 * span, and log lines carry its ids.
 */
import { createRequire } from "node:module";
import { Writable } from "node:stream";
import { trace } from "@opentelemetry/api";
import { describe, expect, it } from "vitest";
import { activeTraceFields, contextFromTraceparent, inSpan, RunTraces, startTracing, traceHeaders, tracer, tracingEnabled } from "../index.js";
import { childTraceparent, newTraceparent } from "../../../protocol/trace.js";
import { createLogger } from "../../logger.js";

describe("tracingEnabled", () => {
  it("is off by default and on only when an exporter or an OTLP endpoint is named", () => {
    expect(tracingEnabled({})).toBe(false);
    expect(tracingEnabled({ OTEL_SERVICE_NAME: "x", OTEL_TRACES_SAMPLER: "always_on" })).toBe(false);
    expect(tracingEnabled({ OTEL_TRACES_EXPORTER: "none" })).toBe(false);
    expect(tracingEnabled({ OTEL_TRACES_EXPORTER: "otlp" })).toBe(true);
    expect(tracingEnabled({ OTEL_TRACES_EXPORTER: "none,console" })).toBe(true);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" })).toBe(true);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://collector:4318/v1/traces" })).toBe(true);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_SDK_DISABLED: "true" })).toBe(false);
    // An endpoint with the exporter explicitly none stays off.
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_TRACES_EXPORTER: "none" })).toBe(false);
  });
});

function capture() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { stream, lines: () => chunks.join("").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** OpenTelemetry SDK packages loaded in this process (CommonJS packages: Node's module cache holds them however they were imported). */
const sdkLoaded = () => Object.keys(createRequire(import.meta.url).cache).filter((k) => /@opentelemetry\/(sdk-|exporter-|instrumentation)|@fastify\/otel/.test(k));

describe("tracing off", () => {
  it("starts nothing and every helper is a no-op", async () => {
    const tracing = await startTracing({ serviceName: "test", env: {} });
    expect(tracing.enabled).toBe(false);
    // Not even loaded: the logger, protocol and lib/tracing need only @opentelemetry/api.
    expect(sdkLoaded()).toEqual([]);
    await tracing.flush();
    // No SDK provider was registered: the API still answers with its no-op.
    const t = tracer("test");
    const result = await inSpan(t, "x", { a: 1 }, async (span) => {
      expect(span.isRecording()).toBe(false);
      expect(traceHeaders()).toEqual({});
      expect(activeTraceFields()).toEqual({});
      return 42;
    });
    expect(result).toBe(42);
    const runs = new RunTraces();
    runs.remember("r1", t.startSpan("y"));
    expect(trace.getSpanContext(runs.parentOf("r1"))).toBeUndefined();
    // Messages keep the old behaviour: a child of the given parent, same trace id.
    const parent = newTraceparent();
    expect(childTraceparent(parent).slice(0, 35)).toBe(parent.slice(0, 35));
    expect(childTraceparent(parent)).not.toBe(parent);
    // Log lines carry no trace fields.
    const out = capture();
    createLogger("t", { destination: out.stream }).info("hello");
    expect(Object.keys(out.lines()[0]!)).not.toContain("trace_id");
  });

  it("inSpan rethrows what fn throws", async () => {
    await expect(inSpan(tracer("t"), "x", {}, async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
  });
});

describe("tracing on (in-memory provider)", () => {
  it("nests spans, puts the active span in messages, HTTP headers and log lines, and continues a run across passes", async () => {
    // The SDK's own provider and exporter, without the OTLP exporter (unit project: no network).
    const { node, tracing: base } = await import("@opentelemetry/sdk-node");
    expect(sdkLoaded().length, "the check above sees a loaded SDK").toBeGreaterThan(0);
    const exporter = new base.InMemorySpanExporter();
    const provider = new node.NodeTracerProvider({ spanProcessors: [new base.SimpleSpanProcessor(exporter)] });
    provider.register();
    try {
      const t = tracer("unit");
      const out = capture();
      const log = createLogger("t", { destination: out.stream });
      let seen: { traceparent: string; headers: Record<string, string> } | undefined;
      await inSpan(t, "outer", { k: "v" }, async (outer) => {
        await inSpan(t, "inner", {}, async (inner) => {
          const c = inner.spanContext();
          seen = { traceparent: newTraceparent(), headers: traceHeaders() };
          expect(seen.traceparent).toBe(`00-${c.traceId}-${c.spanId}-01`);
          expect(childTraceparent(`00-${"a".repeat(32)}-${"b".repeat(16)}-01`)).toBe(seen.traceparent);
          log.info("inside");
          expect(out.lines()[0]).toMatchObject({ trace_id: c.traceId, span_id: c.spanId });
          expect(c.traceId).toBe(outer.spanContext().traceId);
        });
      });
      expect(seen!.headers.traceparent).toBe(seen!.traceparent);
      const spans = exporter.getFinishedSpans();
      expect(spans.map((s) => s.name)).toEqual(["inner", "outer"]);
      expect(spans[0]!.parentSpanContext?.spanId).toBe(spans[1]!.spanContext().spanId);
      expect(spans[1]!.attributes).toEqual({ k: "v" });

      // A span started from a received traceparent is its child; RunTraces carries a run between passes.
      const remote = `00-${"c".repeat(32)}-${"d".repeat(16)}-01`;
      const runs = new RunTraces();
      await inSpan(t, "receive", {}, async (span) => runs.remember("run-1", span), { parent: contextFromTraceparent(remote) });
      await inSpan(t, "later", {}, async () => undefined, { parent: runs.parentOf("run-1") });
      const [receive, later] = exporter.getFinishedSpans().slice(2);
      expect(receive!.spanContext().traceId).toBe("c".repeat(32));
      expect(receive!.parentSpanContext?.spanId).toBe("d".repeat(16));
      expect(later!.parentSpanContext?.spanId).toBe(receive!.spanContext().spanId);
      // A throwing fn marks its span failed (type only, never the message).
      await expect(inSpan(t, "fails", {}, async () => Promise.reject(new TypeError("a secret message")))).rejects.toThrow();
      const failed = exporter.getFinishedSpans().at(-1)!;
      expect(failed.status).toEqual({ code: 2, message: "TypeError" });
      expect(JSON.stringify(failed.attributes)).not.toContain("a secret message");
    } finally {
      await provider.shutdown();
      trace.disable();
    }
  });
});
