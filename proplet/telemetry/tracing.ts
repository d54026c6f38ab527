/** The proplet's tracer (scope "proplet"); a no-op when tracing is off (lib/tracing). */
import { tracer } from "../../lib/tracing/spans.js";

export const propletTracer = tracer("proplet");
