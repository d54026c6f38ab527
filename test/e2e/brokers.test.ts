/**
 * The broker interop suite: the same end-to-end checks on the four MQTT brokers users run
 * Propeller on — Mosquitto (the machine's), aedes (embedded), RabbitMQ (its MQTT plugin) and NATS
 * (its MQTT gateway on JetStream) — each with real proplets, PostgreSQL and a development KBS: an
 * export call with its receipt checked, a WASI command's output, a confidential task (attested key
 * release, attested receipt), an artifact delivered in chunks over MQTT, a warm function, and a
 * proplet that vanishes without a DISCONNECT (the broker's will marks it gone; its run is
 * rescheduled on the other proplet).
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import pino from "pino";
import { startStack, type Stack } from "../../cli/stack.js";
import { ManagerClient } from "../../cli/manager-client.js";
import { createTestDatabase, type TestDatabase } from "../../testing/postgres.js";
import { TEST_MQTT_URL } from "../../testing/mosquitto.js";
import { RABBITMQ_MQTT_PORT, natsServerAvailable, rabbitMqttAvailable, startPrivateNats, type PrivateNats } from "../../testing/brokers.js";
import { describeWhen } from "../../testing/describe-when.js";
import { uniqueTopicRoot, waitFor } from "../../testing/net.js";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { sealWorkload, confidentialTaskBody } from "../../cli/confidential.js";
import { mintAdminToken } from "../../kbs/index.js";
import { sha256Digest } from "../../protocol/index.js";
import { EXAMPLES_DIR } from "../../testing/paths.js";
import { uniqueWasm } from "./delivery-helpers.js";
import { exampleArtifact, runToEnd, waitForProplets } from "./helpers.js";

const logger = pino({ level: process.env.PROPELLER_TEST_LOG ?? "silent" });

interface BrokerCase {
  name: string;
  available: boolean;
  missing: string;
  /** The broker's URL (undefined: the stack's embedded aedes), and how to release it. */
  start(): Promise<{ url: string | undefined; dispose(): Promise<void> }>;
}

const nothing = async () => undefined;
const CASES: BrokerCase[] = [
  { name: "Mosquitto", available: true, missing: "", start: async () => ({ url: TEST_MQTT_URL, dispose: nothing }) },
  { name: "aedes (embedded)", available: true, missing: "", start: async () => ({ url: undefined, dispose: nothing }) },
  {
    name: "RabbitMQ",
    available: await rabbitMqttAvailable(),
    missing: `RabbitMQ's MQTT plugin does not listen on 127.0.0.1:${RABBITMQ_MQTT_PORT} (.ci/run enables it: rabbitmq-plugins enable rabbitmq_mqtt)`,
    start: async () => ({ url: `mqtt://127.0.0.1:${RABBITMQ_MQTT_PORT}`, dispose: nothing }),
  },
  {
    name: "NATS",
    available: natsServerAvailable(),
    missing: "nats-server is not installed (apt-get install nats-server)",
    start: async () => {
      const nats: PrivateNats = await startPrivateNats();
      return { url: nats.mqttUrl, dispose: nats.dispose };
    },
  },
];

for (const broker of CASES) {
  describeWhen(`end to end on ${broker.name}`, broker.available, { test: `has ${broker.name}`, why: broker.missing, skip: broker.missing }, () => {
    let stack: Stack;
    let testDb: TestDatabase;
    let client: ManagerClient;
    let release: (() => Promise<void>) | undefined;

    beforeAll(async () => {
      const started = await broker.start();
      release = started.dispose;
      testDb = await createTestDatabase();
      stack = await startStack({ proplets: 2, logger, kbs: true, ...(started.url ? { mqttUrl: started.url } : {}), databaseUrl: testDb.url, topicRoot: uniqueTopicRoot() });
      client = new ManagerClient({ baseUrl: stack.managerUrl, token: stack.managerToken });
      await waitForProplets(client, 2, 30_000);
    }, 60_000);
    afterAll(async () => {
      await stack?.close();
      await testDb?.drop();
      await release?.();
    });

    it("calls an export and checks its receipt", async () => {
      const task = await runToEnd(client, { name: "add", artifact: await exampleArtifact("add/add.wasm"), entrypoint: { kind: "export", name: "add", inputs: [40, 2] } });
      expect(task.state).toBe("completed");
      expect(task.latestRun!.result!.returnValues).toEqual([42]);
      expect(task.latestRun!.receiptCheck).toMatchObject({ ok: true });
    });

    it("runs a WASI command and returns its output", async () => {
      const task = await runToEnd(client, { name: "hello", artifact: await exampleArtifact("hello/hello.wasm"), args: [broker.name], stdin: Buffer.from("through the broker").toString("base64") });
      expect(task.state).toBe("completed");
      expect(task.latestRun!.result!.stdout).toContain(broker.name);
      expect(task.latestRun!.result!.stdout).toContain("through the broker");
    });

    it("runs a confidential task: attested key release, attested receipt", async () => {
      const kbs = stack.kbs!;
      const admin = { url: kbs.url, token: () => mintAdminToken(kbs.adminKey, { keyId: String(kbs.adminKey.kid), subject: "brokers-test" }) };
      const sealed = await sealWorkload(await readFile(join(EXAMPLES_DIR, "hello", "hello.wasm")), admin, "brokers/workload/hello", "sample");
      const task = await runToEnd(client, {
        ...confidentialTaskBody("sealed hello", sealed.ciphertext, { kbsUrl: kbs.url, resource: sealed.resource, plaintextDigest: sealed.plaintextDigest, tee: "sample" }, { args: ["sealed"] }),
      }, 60_000);
      expect(task.state).toBe("completed");
      expect(task.latestRun!.result!.stdout).toContain("sealed");
      expect(task.latestRun!.receiptCheck).toMatchObject({ ok: true, attested: true });
    }, 90_000);

    it("delivers an artifact in chunks over MQTT", async () => {
      const bytes = uniqueWasm(await readFile(join(EXAMPLES_DIR, "hello", "hello.wasm")), "brokers", 700 * 1024);
      const put = await fetch(`${stack.managerUrl}/artifacts/${sha256Digest(bytes)}`, { method: "PUT", headers: { "content-type": "application/wasm", authorization: `Bearer ${stack.managerToken}` }, body: bytes });
      expect(put.status).toBe(201);
      const task = await runToEnd(client, { name: "chunked", artifact: { digest: sha256Digest(bytes), delivery: "mqtt" }, args: ["in chunks"] }, 60_000);
      expect(task.state).toBe("completed");
      expect(task.latestRun!.result!.stdout).toContain("in chunks");
    }, 90_000);

    it("serves a warm function's invocations", async () => {
      await client.createFunction({ name: "add", artifact: await exampleArtifact("add/add.wasm"), export: "add", instances: 2 });
      const replies = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          fetch(`${stack.managerUrl}/functions/add/invoke`, {
            method: "POST",
            headers: { authorization: `Bearer ${stack.managerToken}`, "content-type": "application/json" },
            body: JSON.stringify({ inputs: [i, 100], deadlineMs: 30_000 }),
            signal: AbortSignal.timeout(45_000),
          }).then(async (r) => ({ status: r.status, body: (await r.json()) as { returnValues?: number[] } })),
        ),
      );
      expect(replies.map((r) => r.status)).toEqual(Array(20).fill(200));
      expect(replies.map((r) => r.body.returnValues![0])).toEqual(Array.from({ length: 20 }, (_, i) => i + 100));
    }, 60_000);

    it("a proplet that vanishes is marked gone by its will, and its run completes on the other one", async () => {
      const task = await client.createTask({ name: "resched", artifact: await exampleArtifact("primes/primes.wasm"), args: ["8000000"], onPropletLoss: "reschedule", start: true });
      const running = await waitFor(async () => {
        const t = await client.getTask(task.id);
        return t.state === "running" ? t : null;
      }, 30_000, "running");
      const first = running.latestRun!.propletId!;
      await stack.proplets.find((p) => p.id === first)!.kill();
      // The will, not the heartbeat timeout (15 s by default, longer than this wait), marks it gone.
      await waitFor(async () => (await client.proplets()).items.find((p) => p.id === first && !p.alive), 10_000, "the will marking it gone");
      const done = await client.waitForFinish(task.id, 90_000);
      expect(done.state).toBe("completed");
      expect(done.latestRun!.propletId).not.toBe(first);
    }, 150_000);
  });
}
