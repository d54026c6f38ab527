/**
 * A TCP link with faults, between clients and a server on loopback: every byte is delayed by a
 * fixed latency each way, and while cutting is on a random live connection is cut (both sides
 * destroyed, as a dropped route or a NAT timeout would) every `cutEveryMs` on average.
 *
 * Packet loss proper needs `tc netem` (the sch_netem kernel module), which this machine's kernel
 * lacks; over TCP a lossy path shows up to the application as latency and as dropped connections,
 * which is what this link produces.
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { freePort } from "./net.js";

export interface LinkFaults {
  /** Added to every chunk, each way (ms). */
  delayMs: number;
  /** Mean time between cuts of a random connection (ms); 0: no cuts. */
  cutEveryMs: number;
}

export interface FlakyLink {
  /** Where clients connect instead of the server. */
  port: number;
  /** Connections cut so far. */
  readonly cuts: number;
  setFaults(faults: Partial<LinkFaults>): void;
  close(): Promise<void>;
}

export async function startFlakyLink(targetPort: number, targetHost = "127.0.0.1"): Promise<FlakyLink> {
  const faults: LinkFaults = { delayMs: 0, cutEveryMs: 0 };
  const pairs = new Set<[Socket, Socket]>();
  let cuts = 0;
  let cutTimer: NodeJS.Timeout | undefined;

  const forward = (from: Socket, to: Socket) => {
    from.on("data", (chunk) => {
      // Equal delays keep their order: Node fires timers of one duration in the order they were set.
      if (faults.delayMs === 0) to.write(chunk);
      else setTimeout(() => to.writable && to.write(chunk), faults.delayMs);
    });
  };

  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: targetHost, port: targetPort });
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    forward(client, upstream);
    forward(upstream, client);
  });

  const scheduleCut = () => {
    clearTimeout(cutTimer);
    if (faults.cutEveryMs <= 0) return;
    cutTimer = setTimeout(() => {
      const live = [...pairs];
      const victim = live[Math.floor(Math.random() * live.length)];
      if (victim) {
        cuts++;
        victim[0].destroy();
        victim[1].destroy();
      }
      scheduleCut();
    }, faults.cutEveryMs * (0.5 + Math.random()));
    cutTimer.unref();
  };

  const port = await freePort();
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(port, "127.0.0.1", () => resolve()));
  return {
    port,
    get cuts() {
      return cuts;
    },
    setFaults(next) {
      Object.assign(faults, next);
      scheduleCut();
    },
    async close() {
      clearTimeout(cutTimer);
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
