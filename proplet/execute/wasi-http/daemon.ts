/**
 * The proplet's side of a running wasi-http daemon: once the component's server listens (inside
 * its worker, on loopback), the public front opens on a port this proplet allocates and the URL is
 * reported. The front, not the guest, bounds each request; a request past its deadline or a port
 * that cannot be opened ends the run.
 */
import type { Logger } from "pino";
import type { RunError } from "../../../protocol/index.js";
import { startHttpFront, type HttpFront } from "./http-front.js";

export interface DaemonServing {
  /** The port the component's server listens on, inside its worker. */
  targetPort: number;
  host: string;
  bodyBytes: number;
  requestTimeoutMs: number;
  runId: string;
  logger?: Logger;
  /** Whether the run already ended: a front that opens too late is closed at once. */
  ended(): boolean;
  onEndpoint?: (url: string) => void;
  /** The daemon must end, failed with this error. */
  fail(error: RunError): void;
}

/** Opens the front; `close()` (idempotent) closes it when the run ends. */
export function serveDaemon(o: DaemonServing): { close(): Promise<void> } {
  let front: HttpFront | undefined;
  void startHttpFront({
    host: o.host,
    port: 0,
    targetPort: o.targetPort,
    requestTimeoutMs: o.requestTimeoutMs,
    bodyBytes: o.bodyBytes,
    onRequestTimeout: (path) =>
      o.fail({ code: "timeout", message: `a request (${path.slice(0, 200)}) exceeded the ${o.requestTimeoutMs} ms per-request limit; the daemon was terminated` }),
    ...(o.logger ? { logger: o.logger } : {}),
  }).then(
    (f) => {
      if (o.ended()) {
        void f.close();
        return;
      }
      front = f;
      o.logger?.info({ runId: o.runId, url: f.url }, "wasi-http daemon serving");
      o.onEndpoint?.(f.url);
    },
    (err: Error) => o.fail({ code: "listen_failed", message: `the daemon's port could not be opened: ${err.message}` }),
  );
  return { close: () => front?.close() ?? Promise.resolve() };
}
