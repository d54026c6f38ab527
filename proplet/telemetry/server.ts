/**
 * The proplet's metrics endpoint: plain node:http, GET /metrics only. Loopback by default; with a
 * token, a scrape must send `authorization: Bearer <token>` (compared in constant time).
 */
import { createServer, type Server } from "node:http";
import { timingSafeEqual, createHash } from "node:crypto";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { messageOf } from "../../lib/errors.js";

export interface MetricsServerOptions {
  host: string;
  port: number;
  token: string | null;
  expose: () => Promise<{ contentType: string; body: string }>;
  log?: Logger;
}

const digest = (s: string): Buffer => createHash("sha256").update(s).digest();

export async function startMetricsServer(options: MetricsServerOptions): Promise<{ url: string; close(): Promise<void> }> {
  const expected = options.token === null ? null : digest(`Bearer ${options.token}`);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: the proplet serves only GET /metrics\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("method not allowed\n");
      return;
    }
    if (expected && !timingSafeEqual(digest(req.headers.authorization ?? ""), expected)) {
      res.writeHead(401, { "www-authenticate": "Bearer", "content-type": "text/plain" }).end("unauthorized: send authorization: Bearer <the proplet's metrics token>\n");
      return;
    }
    options.expose().then(
      ({ contentType, body }) => res.writeHead(200, { "content-type": contentType }).end(req.method === "HEAD" ? undefined : body),
      (err: unknown) => {
        options.log?.warn({ err: messageOf(err) }, "metrics: exposition failed");
        res.writeHead(500, { "content-type": "text/plain" }).end("metrics unavailable\n");
      },
    );
  });
  // Bounded waits: a scraper that stalls cannot hold a socket open.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
