/** Shared setup of the federated learning end-to-end tests: real Mosquitto, real PostgreSQL, real proplets with local shards. */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { startManager } from "../../manager/index.js";
import { startProplet, type PropletHooks, type PropletTeeConfig } from "../../proplet/index.js";
import { ManagerClient } from "../../cli/manager-client.js";
import { BREAST_CANCER_CSV, federatedSplit, loadBreastCancer, shardCsv, type FederatedSplit } from "../../cli/fl-data.js";
import { createTestDatabase } from "../../testing/postgres.js";
import { TEST_MQTT_URL } from "../../testing/mosquitto.js";
import { uniqueTopicRoot } from "../../testing/net.js";
import { E2E_ADMIN_KEY, E2E_AUTH, exampleArtifact, waitForProplets } from "./helpers.js";

export const DATASET_AVAILABLE = existsSync(BREAST_CANCER_CSV);
export const VOLUME = "fl-data";

export interface FlSetup {
  client: ManagerClient;
  split: FederatedSplit;
  raw: string;
  logs: string[];
  db: { url: string };
  managerConfig: Parameters<typeof startManager>[0];
  manager: Awaited<ReturnType<typeof startManager>>;
  proplets: Array<Awaited<ReturnType<typeof startProplet>>>;
  restartManager(): Promise<void>;
  /** A second manager on the same database and broker (as a second process would be). */
  addManager(): Promise<Awaited<ReturnType<typeof startManager>>>;
}

export async function flSetup(
  cleanups: Array<() => Promise<unknown>>,
  options: { proplets?: number; heartbeatTimeoutMs?: number; tee?: (i: number) => PropletTeeConfig | undefined; hooks?: (i: number) => PropletHooks | undefined } = {},
): Promise<FlSetup> {
  const count = options.proplets ?? 3;
  const { data, raw } = await loadBreastCancer();
  const split = federatedSplit(data, count);
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  // Everything the manager logs, at debug, kept to be scanned for training data.
  const logs: string[] = [];
  const logger = pino({ level: "debug" }, new Writable({ write(chunk: Buffer, _enc, done) { logs.push(chunk.toString("utf8")); done(); } }));
  const topicRoot = uniqueTopicRoot();
  const managerConfig = {
    databaseUrl: db.url,
    mqtt: { url: TEST_MQTT_URL },
    topicRoot,
    http: { port: 0 },
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 3000,
    reconcileGraceMs: 3000,
    auth: E2E_AUTH,
    logger,
  };
  const state = { manager: await startManager(managerConfig) };
  cleanups.push(() => state.manager.close());
  const proplets = [];
  for (let i = 1; i <= count; i++) {
    // The shard lives in the proplet's own work directory (a named volume); the manager never sees it.
    const workDir = await mkdtemp(join(tmpdir(), `propeller-fl-p${i}-`));
    cleanups.push(() => rm(workDir, { recursive: true, force: true }));
    await mkdir(join(workDir, "volumes", VOLUME), { recursive: true });
    await writeFile(join(workDir, "volumes", VOLUME, "shard.csv"), shardCsv(split.shards[i - 1]!));
    const tee = options.tee?.(i);
    const p = await startProplet({ id: `p${i}`, mqtt: { url: TEST_MQTT_URL }, topicRoot, workDir, heartbeatIntervalMs: 500, ...(tee ? { tee } : {}), logger: pino({ level: "silent" }) }, options.hooks?.(i));
    cleanups.push(() => p.close());
    proplets.push(p);
  }
  const setup: FlSetup = {
    client: new ManagerClient({ baseUrl: state.manager.url, token: E2E_ADMIN_KEY }),
    split,
    raw,
    logs,
    db,
    managerConfig,
    get manager() {
      return state.manager;
    },
    proplets,
    async restartManager() {
      await state.manager.close();
      state.manager = await startManager({ ...managerConfig, http: { port: 0 } });
      cleanups.push(() => state.manager.close());
      setup.client = new ManagerClient({ baseUrl: state.manager.url, token: E2E_ADMIN_KEY });
    },
    async addManager() {
      const other = await startManager({ ...managerConfig, http: { port: 0 } });
      cleanups.push(() => other.close());
      return other;
    },
  };
  await waitForProplets(setup.client, count);
  return setup;
}

/** An experiment body for the C training client over the participants' volumes. */
export async function experimentBody(overrides: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  return {
    name: "breast-cancer",
    workload: await exampleArtifact("components/fl/logreg.component.wasm"),
    model: { shape: [31], weights: new Array<number>(31).fill(0) },
    rounds: 4,
    participants: { proplets: ["p1", "p2", "p3"] },
    k: 3,
    roundDeadlineMs: 30_000,
    args: ["--epochs", "2", "--lr", "0.1", "--batch", "16"],
    data: { volume: VOLUME },
    ...overrides,
  };
}
