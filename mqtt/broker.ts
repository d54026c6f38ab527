import { createServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer, type TlsOptions } from "node:tls";
import { Aedes, type AedesOptions } from "aedes";
import type { Logger } from "pino";

export interface EmbeddedBrokerOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** When set, the listener is TLS (and may require client certificates: `requestCert`). */
  tls?: TlsOptions;
  /** Authentication and ACL hooks (aedes' own), for brokers that must confine clients. */
  hooks?: Pick<AedesOptions, "authenticate" | "authorizePublish" | "authorizeSubscribe" | "authorizeForward" | "preConnect">;
  logger?: Logger;
}

export interface EmbeddedBroker {
  /** `mqtt://host:port` or `mqtts://host:port`. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * The embedded default broker: aedes in this process, MQTT 3.1.1 (aedes refuses v5).
 * The same clients work against Mosquitto; only the URL differs.
 */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const host = options.host ?? "127.0.0.1";
  const aedes = await Aedes.createBroker({ ...options.hooks });
  const log = options.logger;
  aedes.on("clientError", (client, err) => log?.debug({ clientId: client.id, err: err.message }, "mqtt client error"));
  aedes.on("connectionError", (_client, err) => log?.debug({ err: err.message }, "mqtt connection error"));

  // TCP_NODELAY: MQTT's small packets otherwise meet Nagle's algorithm and delayed ACKs (≈40 ms a hop).
  const handle = (socket: Socket) => {
    socket.setNoDelay(true);
    aedes.handle(socket);
  };
  const server: Server = options.tls ? createTlsServer(options.tls, handle) : createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  const url = `${options.tls ? "mqtts" : "mqtt"}://${host}:${port}`;
  log?.info({ url }, "embedded MQTT broker listening");

  return {
    url,
    port,
    async close() {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
