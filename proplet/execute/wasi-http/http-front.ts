/**
 * The public side of a wasi-http daemon: a plain Node HTTP server on the port the proplet
 * allocates, forwarding each request to the component's server (loopback, inside the run's worker)
 * under the per-request bounds the guest cannot lift: a body size cap (413 beyond it, checked on
 * Content-Length and on the bytes that actually arrive) and a deadline (504, upstream aborted).
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";

export interface HttpFrontOptions {
  host: string;
  /** 0: any free port. */
  port: number;
  targetPort: number;
  requestTimeoutMs: number;
  bodyBytes: number;
  logger?: Logger;
  /**
   * A request passed its deadline. The component handles requests one at a time on its worker's
   * thread, so a handler still running blocks every later request: the runtime ends the daemon.
   */
  onRequestTimeout?: (path: string) => void;
}

export interface HttpFront {
  url: string;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "host"]);

function forwardable(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  return out;
}

export async function startHttpFront(o: HttpFrontOptions): Promise<HttpFront> {
  const server: Server = createServer((req, res) => {
    const fail = (status: number, text: string) => {
      if (!res.headersSent) res.writeHead(status, { "content-type": "text/plain", connection: "close" });
      res.end(`${text}\n`);
    };
    const declared = Number(req.headers["content-length"] ?? "0");
    if (Number.isFinite(declared) && declared > o.bodyBytes) {
      fail(413, `request body larger than ${o.bodyBytes} bytes`);
      req.destroy();
      return;
    }
    const upstream = httpRequest({ host: "127.0.0.1", port: o.targetPort, method: req.method, path: req.url, headers: forwardable(req.headers) }, (up) => {
      res.writeHead(up.statusCode ?? 502, forwardable(up.headers));
      up.pipe(res);
    });
    const timer = setTimeout(() => {
      upstream.destroy();
      fail(504, `the workload did not answer within ${o.requestTimeoutMs} ms`);
      o.onRequestTimeout?.(req.url ?? "");
    }, o.requestTimeoutMs);
    res.on("close", () => clearTimeout(timer));
    upstream.on("error", (err) => {
      clearTimeout(timer);
      fail(502, `the workload failed to answer: ${err.message}`);
    });
    let received = 0;
    req.on("data", (chunk: Buffer) => {
      received += chunk.byteLength;
      if (received > o.bodyBytes) {
        upstream.destroy();
        fail(413, `request body larger than ${o.bodyBytes} bytes`);
        req.destroy();
        return;
      }
      upstream.write(chunk);
    });
    req.on("end", () => upstream.end());
  });
  server.headersTimeout = Math.min(o.requestTimeoutMs, 60_000);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = o.host.includes(":") ? `[${o.host}]` : o.host;
  return {
    url: `http://${shownHost}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
