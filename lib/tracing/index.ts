export { tracingEnabled } from "./env.js";
export { startTracing, tracingStarted, type Tracing, type TracingOptions } from "./start.js";
export { registerTracing } from "./fastify.js";
export { activeTraceFields, contextFromTraceparent, contextOfMessage, failSpan, inSpan, RunTraces, SpanKind, traceHeaders, tracer, type Attributes, type Context, type Span, type SpanContext, type SpanOptions } from "./spans.js";
