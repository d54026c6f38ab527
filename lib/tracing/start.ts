/**
 * Process-wide tracing setup. With tracing off (the default, lib/tracing/env.ts) nothing of the
 * SDK is loaded: every span call in the boxes goes to @opentelemetry/api's no-op tracer. With it
 * on, the import-in-the-middle loader is registered (so the pg instrumentation can patch the ESM
 * import of `pg`), then the Node SDK is loaded by dynamic import and configured by the standard
 * OTEL_* variables (exporter, endpoint, protocol, headers, sampler, resource attributes).
 *
 * One provider per process: `propeller up` runs manager, proplets and KBS in one process, so they
 * share it; each box's spans carry its own instrumentation scope (protocol's SPAN names tell the
 * boxes apart too), and a separately deployed box gets its own service name.
 */
import { register } from "node:module";
import { trace } from "@opentelemetry/api";
import { tracingEnabled } from "./env.js";

export interface Tracing {
  readonly enabled: boolean;
  /** Sends every finished span now (tests, and before exit). */
  flush(): Promise<void>;
  /** Flushes and stops the exporter; later spans are dropped. */
  shutdown(): Promise<void>;
}

const OFF: Tracing = { enabled: false, flush: async () => undefined, shutdown: async () => undefined };

let started: Promise<Tracing> | null = null;

export interface TracingOptions {
  /** service.name when OTEL_SERVICE_NAME does not say ("propeller", "propeller-manager", "proplet", "kbs"). */
  serviceName: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * Starts tracing once per process (later calls get the same handle). Call it before the box's
 * modules are imported, so `pg` is loaded after the loader hook (otherwise its spans are missing;
 * everything else still works).
 */
export function startTracing(options: TracingOptions): Promise<Tracing> {
  const env = options.env ?? process.env;
  if (!tracingEnabled(env)) return Promise.resolve(OFF);
  started ??= load(options.serviceName, env);
  return started;
}

/** True once startTracing turned tracing on in this process (fastify plugins ask). */
export function tracingStarted(): Promise<Tracing> | null {
  return started;
}

async function load(serviceName: string, env: NodeJS.ProcessEnv): Promise<Tracing> {
  // Only `pg` needs the ESM hook; wrapping nothing else keeps the loader's cost off every other import.
  register("import-in-the-middle/hook.mjs", import.meta.url, { data: { include: ["pg"] } });
  const [{ NodeSDK }, { PgInstrumentation }] = await Promise.all([import("@opentelemetry/sdk-node"), import("@opentelemetry/instrumentation-pg")]);
  const sdk = new NodeSDK({
    ...(env.OTEL_SERVICE_NAME ? {} : { serviceName }),
    instrumentations: [
      new PgInstrumentation({
        // A query outside any traced request (scheduler ticks, sweeps) starts no trace of its own.
        requireParentSpan: true,
        // Statement text only (parameter values may be task data).
        enhancedDatabaseReporting: false,
      }),
    ],
  });
  sdk.start();
  const provider = () => (trace.getTracerProvider() as { getDelegate?: () => unknown }).getDelegate?.() as { forceFlush?: () => Promise<void> } | undefined;
  return {
    enabled: true,
    flush: async () => {
      await provider()?.forceFlush?.();
    },
    shutdown: async () => {
      await sdk.shutdown();
      started = null;
    },
  };
}
