/**
 * Server spans for a fastify app (@fastify/otel), registered only when tracing is on: the
 * manager's REST API and the KBS each call this before their routes. Lifecycle-hook and handler
 * spans are off (one span per request, not ten); the incoming `traceparent` header is honoured,
 * which is how the KBS's spans join the proplet's trace.
 */
import type { FastifyInstance, FastifyPluginCallback } from "fastify";
import { tracingStarted } from "./start.js";

let plugin: FastifyPluginCallback | null = null;

/** Any fastify instance (its server and logger generics differ between the manager and the KBS; the plugin needs neither). */
export async function registerTracing(app: Pick<FastifyInstance, "register"> | { register: (...args: never[]) => unknown }): Promise<void> {
  const started = tracingStarted();
  if (!started || !(await started).enabled) return;
  if (!plugin) {
    const { FastifyOtelInstrumentation } = await import("@fastify/otel");
    plugin = new FastifyOtelInstrumentation({
      instrumentHooks: false,
      instrumentHandler: false,
      recordExceptions: false,
      // "POST /tasks/:id/start", not "request": the route template (never the path's ids or the query).
      requestHook: (span, request) => span.updateName(`${request.method} ${request.routeOptions.url ?? "unknown route"}`),
    }).plugin() as FastifyPluginCallback;
  }
  await (app as FastifyInstance).register(plugin);
}
