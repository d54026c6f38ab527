/** Shared by the delivery end-to-end tests: a manager and proplets on a real broker and database. */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import pino from "pino";
import { startManager, type ManagerConfigInput, type RunningManager } from "../../manager/index.js";
import { startProplet, type PropletConfigInput, type RunningProplet } from "../../proplet/index.js";
import { ManagerClient } from "../../cli/manager-client.js";
import { createTestDatabase } from "../../testing/postgres.js";
import { uniqueTopicRoot } from "../../testing/net.js";
import { EXAMPLES_DIR } from "../../testing/paths.js";
import { E2E_ADMIN_KEY, E2E_AUTH, waitForProplets } from "./helpers.js";

export const logger = pino({ level: process.env.PROPELLER_TEST_LOG ?? "silent" });

export interface DeliveryStack {
  manager: RunningManager;
  proplets: Map<string, RunningProplet>;
  client: ManagerClient;
  topicRoot: string;
  mqttUrl: string;
  close(): Promise<void>;
}

export async function startDeliveryStack(options: {
  mqttUrl: string;
  manager?: Partial<ManagerConfigInput>;
  proplets: Array<Partial<PropletConfigInput> & { id: string }>;
}): Promise<DeliveryStack> {
  const cleanups: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  };
  try {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const topicRoot = uniqueTopicRoot();
    const manager = await startManager({ databaseUrl: db.url, mqtt: { url: options.mqttUrl }, topicRoot, http: { port: 0 }, logger, heartbeatTimeoutMs: 20_000, auth: E2E_AUTH, ...options.manager });
    cleanups.push(() => manager.close());
    const proplets = new Map<string, RunningProplet>();
    for (const p of options.proplets) {
      const proplet = await startProplet({ mqtt: { url: options.mqttUrl }, topicRoot, heartbeatIntervalMs: 500, maxConcurrency: 2, logger, ...p });
      cleanups.push(() => proplet.close());
      proplets.set(p.id, proplet);
    }
    const client = new ManagerClient({ baseUrl: manager.url, token: E2E_ADMIN_KEY, timeoutMs: 60_000 });
    await waitForProplets(client, options.proplets.length);
    return { manager, proplets, client, topicRoot, mqttUrl: options.mqttUrl, close };
  } catch (err) {
    await close();
    throw err;
  }
}

export async function example(relative: string): Promise<Buffer> {
  return readFile(join(EXAMPLES_DIR, relative));
}

/**
 * A valid module with its own digest (and the size asked for): the example plus a custom section,
 * which runtimes ignore. Keeps caches from answering for another test's bytes.
 */
export function uniqueWasm(base: Buffer, label: string, totalBytes = 0): Buffer {
  const name = Buffer.from(`propeller-test-${label}`);
  const fixed = base.byteLength + 1 + 5 + 1 + name.byteLength;
  const payload = Buffer.alloc(Math.max(16, totalBytes - fixed), 0x5a);
  payload.write(`${label}-${Date.now()}-${Math.random()}`);
  const body = Buffer.concat([Buffer.from([name.byteLength]), name, payload]);
  return Buffer.concat([base, Buffer.from([0x00]), leb128(body.byteLength), body]);
}

function leb128(n: number): Buffer {
  // Fixed 5 bytes (padded), so the size of the result does not depend on the payload size.
  const out = Buffer.alloc(5);
  for (let i = 0; i < 5; i++) {
    out[i] = (n & 0x7f) | (i < 4 ? 0x80 : 0);
    n >>>= 7;
  }
  return out;
}
