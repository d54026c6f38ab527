import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger } from "pino";
import { startEmbeddedBroker, type EmbeddedBroker } from "../mqtt/index.js";
import { startManager } from "../manager/index.js";
import { startProplet } from "../proplet/index.js";

type RunningManager = Awaited<ReturnType<typeof startManager>>;
type RunningProplet = Awaited<ReturnType<typeof startProplet>>;

export interface StackOptions {
  /** How many proplets to start in this process (default 2). */
  proplets?: number;
  /** External MQTT broker; when absent an embedded aedes broker is started. */
  mqttUrl?: string;
  /** Database; default embedded PGlite in memory. */
  databaseUrl?: string;
  managerPort?: number;
  managerHost?: string;
  topicRoot?: string;
  logger: Logger;
}

export interface Stack {
  managerUrl: string;
  brokerUrl: string;
  databaseUrl: string;
  manager: RunningManager;
  proplets: RunningProplet[];
  close(): Promise<void>;
}

/**
 * The whole system in one process: broker (embedded unless given), database (embedded PGlite
 * unless given), manager and N proplets. Used by `propeller up`, the demo, end-to-end tests and
 * benchmarks, so they all exercise the same wiring.
 */
export async function startStack(options: StackOptions): Promise<Stack> {
  const log = options.logger;
  const cleanups: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((err: unknown) => log.warn({ err: (err as Error).message }, "shutdown step failed"));
    }
  };
  try {
    let broker: EmbeddedBroker | undefined;
    let brokerUrl = options.mqttUrl;
    if (!brokerUrl) {
      broker = await startEmbeddedBroker({ logger: log.child({ box: "broker" }) });
      brokerUrl = broker.url;
      const b = broker;
      cleanups.push(() => b.close());
    }

    let databaseUrl = options.databaseUrl;
    if (!databaseUrl) {
      const dir = await mkdtemp(join(tmpdir(), "propeller-pglite-"));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      databaseUrl = `pglite://${dir}`;
    }

    const manager = await startManager({
      databaseUrl,
      mqtt: { url: brokerUrl },
      ...(options.topicRoot ? { topicRoot: options.topicRoot } : {}),
      http: { host: options.managerHost ?? "127.0.0.1", port: options.managerPort ?? 0 },
      logger: log.child({ box: "manager" }),
    });
    cleanups.push(() => manager.close());

    const proplets: RunningProplet[] = [];
    for (let i = 1; i <= (options.proplets ?? 2); i++) {
      const proplet = await startProplet({
        id: `proplet-${i}`,
        name: `embedded proplet ${i}`,
        mqtt: { url: brokerUrl },
        ...(options.topicRoot ? { topicRoot: options.topicRoot } : {}),
        logger: log.child({ box: "proplet", proplet: `proplet-${i}` }),
      });
      proplets.push(proplet);
      cleanups.push(() => proplet.close());
    }

    return { managerUrl: manager.url, brokerUrl, databaseUrl, manager, proplets, close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
