/**
 * The interop brokers in their production setup: mTLS (identities from client certificates of our
 * CA) and the broker ACL of mqtt/security/acl.ts in the broker's own terms — NATS with the config
 * nats-config.ts generates, and a private RabbitMQ node (its MQTT plugin over TLS, ssl_cert_login, topic
 * permissions) with what rabbitmq-config.ts generates. A task runs end to end over mTLS; a rogue holding another valid proplet
 * certificate cannot read proplet-1's task.start (its SUBSCRIBEs are refused and nothing reaches
 * it); a certificate the broker was not configured for cannot connect at all.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import pino from "pino";
import { startStack, type Stack } from "../../cli/stack.js";
import { ManagerClient } from "../../cli/manager-client.js";
import { MqttConnection } from "../../mqtt/index.js";
import { Topics } from "../../protocol/topics.js";
import { createTestDatabase, type TestDatabase } from "../../testing/postgres.js";
import { natsServerAvailable, startPrivateNats, type PrivateNats } from "../../testing/brokers.js";
import { rabbitServerAvailable, startPrivateRabbit, type PrivateRabbit } from "../../testing/rabbitmq.js";
import { createTestPki, type TestPki } from "../../testing/tls.js";
import { describeWhen } from "../../testing/describe-when.js";
import { uniqueTopicRoot } from "../../testing/net.js";
import { exampleArtifact, runToEnd, waitForProplets } from "./helpers.js";

const logger = pino({ level: process.env.PROPELLER_TEST_LOG ?? "silent" });

describeWhen("NATS with mTLS and the generated per-proplet permissions", natsServerAvailable(), { test: "has nats-server", why: "nats-server is not installed (apt-get install nats-server)", skip: "nats-server is not installed" }, () => {
  const topicRoot = uniqueTopicRoot();
  const topics = new Topics(topicRoot);
  let pki: TestPki;
  let nats: PrivateNats;
  let stack: Stack;
  let testDb: TestDatabase;
  let client: ManagerClient;

  const connectAs = async (name: string) => {
    const { cert, key } = await pki.identity(name);
    return MqttConnection.connect({ url: nats.mqttUrl, clientId: name, tls: { ca: pki.ca, cert, key }, reconnectPeriodMs: 0, connectTimeoutMs: 5000 });
  };

  beforeAll(async () => {
    // proplet-3 is a registered proplet (listed in the broker config) that turns rogue; proplet-4 holds
    // a certificate from our CA that the broker was never configured for.
    pki = await createTestPki({ proplets: ["proplet-1", "proplet-2", "proplet-3", "proplet-4"] });
    nats = await startPrivateNats({ mtls: { certsDir: pki.dir, proplets: ["proplet-1", "proplet-2", "proplet-3"], topicRoot } });
    testDb = await createTestDatabase();
    stack = await startStack({ proplets: 2, logger, mqttUrl: nats.mqttUrl, mtls: { certsDir: pki.dir }, databaseUrl: testDb.url, topicRoot });
    client = new ManagerClient({ baseUrl: stack.managerUrl, token: stack.managerToken });
    await waitForProplets(client, 2, 30_000);
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
    await testDb?.drop();
    await nats?.dispose();
    await pki?.dispose();
  });

  it("runs a task end to end over mTLS", async () => {
    const task = await runToEnd(client, { name: "add", artifact: await exampleArtifact("add/add.wasm"), entrypoint: { kind: "export", name: "add", inputs: [40, 2] } });
    expect(task.state).toBe("completed");
    expect(task.latestRun!.result!.returnValues).toEqual([42]);
    expect(task.latestRun!.receiptCheck).toMatchObject({ ok: true });
  });

  it("a rogue with another valid proplet certificate cannot read proplet-1's task.start, nor publish as proplet-1", async () => {
    const rogue = await connectAs("proplet-3");
    try {
      const stolen: string[] = [];
      const refused: string[] = [];
      for (const filter of [topics.proplet("proplet-1", "tasks/start"), `${topics.root}/proplets/+/tasks/start`, `${topics.root}/#`, "#", "$MQTT/sub/#"]) {
        for (const qos of [0, 1] as const) {
          await rogue.subscribe(filter, (t) => void stolen.push(t), qos).then(
            () => undefined,
            () => void refused.push(`${filter} qos${qos}`),
          );
        }
      }
      // Every one of those SUBSCRIBEs gets a failure SUBACK (0x80): NATS checks the subject rules.
      expect(refused).toHaveLength(10);
      // A forged announce under proplet-1's topic is dropped by the broker (a publish violation).
      await rogue.publish(topics.proplet("proplet-1", "heartbeat"), Buffer.from("{}")).catch(() => undefined);
      const task = await runToEnd(client, { name: "hello", artifact: await exampleArtifact("hello/hello.wasm"), args: ["for-proplet-1"], target: "proplet-1" });
      expect(task.state).toBe("completed");
      expect(task.latestRun!.propletId).toBe("proplet-1");
      expect(task.latestRun!.result!.stdout).toContain("for-proplet-1");
      await new Promise((r) => setTimeout(r, 500));
      expect(stolen).toEqual([]);
      expect(nats.log()).toMatch(/Subscription Violation - User "CN=proplet-3,OU=proplet,O=Propeller", Subject "[^"]*proplets\.proplet-1\.tasks\.start"/);
      expect(nats.log()).toMatch(/Publish Violation - User "CN=proplet-3,OU=proplet,O=Propeller", Subject "[^"]*proplets\.proplet-1\.heartbeat"/);
    } finally {
      await rogue.close();
    }
  });

  it("a certificate from our CA that the broker was not configured for cannot connect", async () => {
    await expect(connectAs("proplet-4")).rejects.toThrow();
    expect(nats.log()).toMatch(/authentication error/);
  });
});

describeWhen("RabbitMQ with mTLS (ssl_cert_login) and the generated topic permissions", rabbitServerAvailable(), { test: "has rabbitmq-server", why: "rabbitmq-server is not installed (apt-get install rabbitmq-server)", skip: "rabbitmq-server is not installed" }, () => {
  const topicRoot = uniqueTopicRoot();
  const topics = new Topics(topicRoot);
  let pki: TestPki;
  let rabbit: PrivateRabbit;
  let stack: Stack;
  let testDb: TestDatabase;
  let client: ManagerClient;

  const connectAs = async (name: string, clientId = `${name}:proplet`) => {
    const { cert, key } = await pki.identity(name);
    return MqttConnection.connect({ url: rabbit.mqttUrl, clientId, tls: { ca: pki.ca, cert, key }, reconnectPeriodMs: 0, connectTimeoutMs: 5000 });
  };

  beforeAll(async () => {
    pki = await createTestPki({ proplets: ["proplet-1", "proplet-2", "proplet-3", "proplet-4"] });
    // A node of its own (about 20 s to boot here): the machine's RabbitMQ is shared and stays as it is.
    rabbit = await startPrivateRabbit({ certsDir: pki.dir, proplets: ["proplet-1", "proplet-2", "proplet-3"], topicRoot });
    testDb = await createTestDatabase();
    stack = await startStack({ proplets: 2, logger, mqttUrl: rabbit.mqttUrl, mtls: { certsDir: pki.dir }, databaseUrl: testDb.url, topicRoot });
    client = new ManagerClient({ baseUrl: stack.managerUrl, token: stack.managerToken });
    await waitForProplets(client, 2, 30_000);
  }, 150_000);
  afterAll(async () => {
    await stack?.close();
    await testDb?.drop();
    await rabbit?.dispose();
    await pki?.dispose();
  }, 60_000);

  it("runs a task end to end over mTLS", async () => {
    const task = await runToEnd(client, { name: "add", artifact: await exampleArtifact("add/add.wasm"), entrypoint: { kind: "export", name: "add", inputs: [40, 2] } });
    expect(task.state).toBe("completed");
    expect(task.latestRun!.result!.returnValues).toEqual([42]);
    expect(task.latestRun!.receiptCheck).toMatchObject({ ok: true });
  });

  it("a rogue with another valid proplet certificate is disconnected when it subscribes to proplet-1's task.start", async () => {
    for (const filter of [topics.proplet("proplet-1", "tasks/start"), `${topics.root}/#`, "#"]) {
      const rogue = await connectAs("proplet-3");
      const stolen: string[] = [];
      const closed = new Promise<void>((res) => rogue.client.once("close", () => res()));
      // RabbitMQ answers a SUBSCRIBE its topic permissions refuse by closing the connection.
      await expect(rogue.subscribe(filter, (t) => void stolen.push(t))).rejects.toThrow();
      await Promise.race([closed, new Promise((_, rej) => setTimeout(() => rej(new Error(`not disconnected after subscribing to ${filter}`)), 5000))]);
      expect(rogue.connected).toBe(false);
      expect(stolen).toEqual([]);
      await rogue.close();
    }
    const task = await runToEnd(client, { name: "hello", artifact: await exampleArtifact("hello/hello.wasm"), args: ["for-proplet-1"], target: "proplet-1" });
    expect(task.state).toBe("completed");
    expect(task.latestRun!.propletId).toBe("proplet-1");
    expect(await rabbit.log()).toMatch(/access to topic '[^']*proplets\.proplet-1\.tasks\.start' in exchange 'amq\.topic' in vhost '\/' refused for user 'proplet-3'/);
  });

  it("a certificate from our CA that the broker has no user for cannot connect", async () => {
    await expect(connectAs("proplet-4")).rejects.toThrow();
    expect(await rabbit.log()).toMatch(/MQTT login failed for user 'proplet-4'/);
  });

  it("a rogue using proplet-1's client id cannot take over its session queue (it can only knock the connection off)", async () => {
    await expect(connectAs("proplet-3", "proplet-1:proplet")).rejects.toThrow();
    expect(await rabbit.log()).toMatch(/access to queue 'mqtt-subscription-proplet-1:propletqos1' in vhost '\/' refused for user 'proplet-3'/);
    // proplet-1 reconnects by itself and still runs what it is sent.
    await waitForProplets(client, 2, 30_000);
    const task = await runToEnd(client, { name: "after", artifact: await exampleArtifact("hello/hello.wasm"), args: ["still-mine"], target: "proplet-1" }, 60_000);
    expect(task.state).toBe("completed");
    expect(task.latestRun!.result!.stdout).toContain("still-mine");
  }, 90_000);
});
