/**
 * `propeller manager serve` / `propeller proplet serve`: configuration from the environment, the
 * proplet's identity = its certificate's identity, and the embedded stack over mTLS.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { propletCommand } from "../commands/proplet.js";
import { managerCommand } from "../commands/manager.js";
import { brokerCommand } from "../commands/broker.js";
import { main } from "../main.js";
import { managerSettingsFromEnv, propletSettingsFromEnv, ServiceEnvError } from "../service-env.js";
import { startStack, type Stack } from "../stack.js";
import { ManagerClient } from "../manager-client.js";
import { startManager } from "../../manager/index.js";
import { startProplet } from "../../proplet/index.js";
import { MqttConnection } from "../../mqtt/index.js";
import { Topics } from "../../protocol/topics.js";
import { createTestPki, startMosquittoWithConfig, type TestPki } from "../../testing/tls.js";
import { createTestDatabase } from "../../testing/postgres.js";
import { freePort, uniqueTopicRoot, waitFor } from "../../testing/net.js";
import { exampleArtifact, runToEnd } from "../../test/e2e/helpers.js";
import { messageOf } from "../../lib/errors.js";

const logger = pino({ level: process.env.PROPELLER_TEST_LOG ?? "silent" });
const API_KEY = `prop_${"k".repeat(16)}_${Buffer.alloc(32, 7).toString("base64url")}`;

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) }, out, err };
}

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

let pki: TestPki;
let dir: string;
beforeAll(async () => {
  pki = await createTestPki({ proplets: ["edge-x", "edge-y"], servers: ["manager"] });
  cleanups.push(() => pki.dispose());
  dir = await mkdtemp(join(tmpdir(), "propeller-serve-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "api-key"), API_KEY + "\n", { mode: 0o600 });
});

const f = (name: string) => join(pki.dir, name);

describe("service environment", () => {
  it("proplet: the id is the client certificate's CN; a matching PROPELLER_PROPLET_ID is accepted", async () => {
    const env = { PROPELLER_MQTT_URL: "mqtts://broker:8883", PROPELLER_MQTT_CA_FILE: f("ca.pem"), PROPELLER_MQTT_CERT_FILE: f("edge-y.pem"), PROPELLER_MQTT_KEY_FILE: f("edge-y.key") };
    const s = await propletSettingsFromEnv({ ...env, PROPELLER_PROPLET_TAGS: "gpu, edge", PROPELLER_TEE: '{"type":"sample"}' });
    expect(s.id).toBe("edge-y");
    expect(s.tags).toEqual(["gpu", "edge"]);
    expect(s.tee).toEqual({ type: "sample" });
    expect(s.mqtt.tls?.cert?.toString()).toContain("BEGIN CERTIFICATE");
    expect((await propletSettingsFromEnv({ ...env, PROPELLER_PROPLET_ID: "edge-y" })).id).toBe("edge-y");
  });

  it("proplet: an id that is not the certificate's, a manager certificate, a missing key file are refused, each named", async () => {
    const env = { PROPELLER_MQTT_URL: "mqtts://broker:8883", PROPELLER_MQTT_CA_FILE: f("ca.pem"), PROPELLER_MQTT_CERT_FILE: f("edge-y.pem"), PROPELLER_MQTT_KEY_FILE: f("edge-y.key") };
    await expect(propletSettingsFromEnv({ ...env, PROPELLER_PROPLET_ID: "edge-x" })).rejects.toThrow(/PROPELLER_PROPLET_ID: "edge-x" does not match the client certificate's identity CN=edge-y/);
    await expect(propletSettingsFromEnv({ ...env, PROPELLER_MQTT_CERT_FILE: f("manager-client.pem"), PROPELLER_MQTT_KEY_FILE: f("manager-client.key") })).rejects.toThrow(/manager-client certificate/);
    await expect(propletSettingsFromEnv({ ...env, PROPELLER_MQTT_KEY_FILE: join(dir, "nope.key") })).rejects.toThrow(/PROPELLER_MQTT_KEY_FILE: cannot read .*nope\.key \(ENOENT\)/);
    await expect(propletSettingsFromEnv({ ...env, PROPELLER_TEE: "{sample" })).rejects.toThrow(/PROPELLER_TEE/);
    await expect(propletSettingsFromEnv({ PROPELLER_MQTT_URL: "mqtt://broker:1883" })).rejects.toThrow(/PROPELLER_PROPLET_ID is required/);
    // The error is one line: every problem, joined.
    const err = await propletSettingsFromEnv({ PROPELLER_MQTT_URL: "http://x" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceEnvError);
    expect(messageOf(err)).not.toContain("\n");
    expect((err as ServiceEnvError).problems.length).toBe(2);
  });

  it("manager: everything from the environment, files read; no credential at all is refused; the key never echoed", async () => {
    const env = {
      PROPELLER_DATABASE_URL: "postgres://propeller@db/propeller",
      PROPELLER_MQTT_URL: "mqtts://broker:8883",
      PROPELLER_MQTT_CA_FILE: f("ca.pem"),
      PROPELLER_MQTT_CERT_FILE: f("manager-client.pem"),
      PROPELLER_MQTT_KEY_FILE: f("manager-client.key"),
      PROPELLER_HTTP_HOST: "0.0.0.0",
      PROPELLER_HTTP_PORT: "7443",
      PROPELLER_HTTP_TLS_CERT_FILE: f("manager-chain.pem"),
      PROPELLER_HTTP_TLS_KEY_FILE: f("manager.key"),
      PROPELLER_BOOTSTRAP_API_KEY_FILE: join(dir, "api-key"),
      PROPELLER_TOPIC_ROOT: "acme/v1",
    };
    const s = await managerSettingsFromEnv(env);
    expect(s.http).toMatchObject({ host: "0.0.0.0", port: 7443 });
    expect(s.http.tls?.key.toString()).toContain("PRIVATE KEY");
    expect(s.auth.bootstrapKeys).toEqual([{ name: "bootstrap", key: API_KEY, scopes: ["admin"] }]);
    expect(s.topicRoot).toBe("acme/v1");
    await expect(managerSettingsFromEnv({ ...env, PROPELLER_BOOTSTRAP_API_KEY_FILE: "" })).rejects.toThrow(/no credential can reach the manager's API/);
    await expect(managerSettingsFromEnv({ ...env, PROPELLER_HTTP_PORT: "99999", PROPELLER_HTTP_TLS_KEY_FILE: "" })).rejects.toThrow(
      /PROPELLER_HTTP_PORT: "99999".*PROPELLER_HTTP_TLS_CERT_FILE and PROPELLER_HTTP_TLS_KEY_FILE go together/,
    );
    await expect(managerSettingsFromEnv({ ...env, PROPELLER_JWT_ISSUER: "https://idp" })).rejects.toThrow(/PROPELLER_JWT_AUDIENCE is required.*PROPELLER_JWT_JWKS_URL is required/);
    const jwt = await managerSettingsFromEnv({ ...env, PROPELLER_JWT_ISSUER: "https://idp", PROPELLER_JWT_AUDIENCE: "propeller", PROPELLER_JWT_JWKS_URL: "https://idp/jwks" });
    expect(jwt.auth.jwt).toEqual({ issuer: "https://idp", audience: "propeller", jwksUrl: "https://idp/jwks" });
    const secretDb = await managerSettingsFromEnv({ ...env, PROPELLER_DATABASE_URL: "mysql://u:hunter2@db/x" }).catch((e: Error) => e.message);
    expect(secretDb).toContain("PROPELLER_DATABASE_URL");
    expect(secretDb).not.toContain("hunter2");
    await writeFile(join(dir, "bad-key"), "prop_short_secretvalue-that-is-wrong\n");
    const badKey = await managerSettingsFromEnv({ ...env, PROPELLER_BOOTSTRAP_API_KEY_FILE: join(dir, "bad-key") }).catch((e: Error) => e.message);
    expect(badKey).toContain("PROPELLER_BOOTSTRAP_API_KEY_FILE");
    expect(badKey).not.toContain("secretvalue");
  });

  it("through the CLI: one line on stderr naming the variable, exit code 1, nothing started", async () => {
    const set = {
      PROPELLER_MQTT_URL: "mqtts://127.0.0.1:1",
      PROPELLER_MQTT_CERT_FILE: f("edge-y.pem"),
      PROPELLER_MQTT_KEY_FILE: f("edge-y.key"),
      PROPELLER_MQTT_CA_FILE: f("ca.pem"),
      PROPELLER_PROPLET_ID: "edge-x",
    };
    const saved = Object.fromEntries(Object.keys(set).map((k) => [k, process.env[k]]));
    try {
      Object.assign(process.env, set);
      const c = capture();
      expect(await main(["proplet", "serve"], c.io)).toBe(1);
      expect(c.err).toHaveLength(1);
      expect(c.err[0]).toMatch(/^propeller: invalid environment: PROPELLER_PROPLET_ID: "edge-x" does not match the client certificate's identity CN=edge-y/);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    const m = capture();
    await expect(managerCommand(["serve"], m.io, {})).rejects.toThrow(/PROPELLER_DATABASE_URL is required.*PROPELLER_MQTT_URL is required/);
    expect((await main(["manager", "bogus"], capture().io))).toBe(2);
  });
});

describe("proplet identity = certificate identity, on a real Mosquitto (generated config and ACL)", () => {
  it("proplet serve refuses id X with the certificate of Y; a proplet that bypasses the check cannot announce as X; the honest one serves and stops on SIGTERM", async () => {
    const out = join(dir, "mosquitto");
    const port = await freePort();
    const root = uniqueTopicRoot();
    const args = ["config", "--certs", pki.dir, "--out", out, "--port", String(port), "--root", root];
    if (process.getuid?.() === 0) args.push("--user", "root");
    expect(await brokerCommand(args, capture().io)).toBe(0);
    const mosquitto = await startMosquittoWithConfig(join(out, "mosquitto.conf"), port);
    cleanups.push(() => mosquitto.stop());
    const url = `mqtts://127.0.0.1:${port}`;
    const db = await createTestDatabase("serve_identity");
    cleanups.push(() => db.drop());

    // The manager, connected with its own client certificate.
    const managerInput = {
      databaseUrl: db.url,
      mqtt: { url, tls: { ca: pki.ca, ...(await pki.identity("manager-client")) } },
      topicRoot: root,
      http: { port: 0 },
      auth: { bootstrapKeys: [{ name: "test", key: API_KEY, scopes: ["admin" as const] }] },
      logger,
    };
    const manager = await startManager(managerInput);
    cleanups.push(() => manager.close());
    const client = new ManagerClient({ baseUrl: manager.url, token: API_KEY });
    // A second, independent witness: everything announced on the broker, as the manager hears it.
    const witness = await MqttConnection.connect({ url, clientId: "manager", tls: { ca: pki.ca, ...(await pki.identity("manager-client")) } });
    cleanups.push(() => witness.close());
    const announced: string[] = [];
    await witness.subscribe(new Topics(root).allProplets("announce"), (topic) => void announced.push(topic));

    const env = { PROPELLER_MQTT_URL: url, PROPELLER_MQTT_CA_FILE: f("ca.pem"), PROPELLER_MQTT_CERT_FILE: f("edge-y.pem"), PROPELLER_MQTT_KEY_FILE: f("edge-y.key"), PROPELLER_TOPIC_ROOT: root };
    // 1. Refused at start, with a clear error, before connecting.
    await expect(propletCommand(["serve"], capture().io, { ...env, PROPELLER_PROPLET_ID: "edge-x" })).rejects.toThrow(/PROPELLER_PROPLET_ID: "edge-x" does not match the client certificate's identity CN=edge-y/);

    // 2. A proplet that skips the check (the library, id edge-x, edge-y's certificate): the broker drops what it says as edge-x.
    const impostor = await startProplet({ id: "edge-x", mqtt: { url, tls: { ca: pki.ca, ...(await pki.identity("edge-y")) } }, topicRoot: root, heartbeatIntervalMs: 200, logger });
    cleanups.push(() => impostor.close());

    // 3. The honest proplet: `proplet serve` with edge-y's certificate, id from the CN.
    const health = join(dir, "edge-y.health");
    const c = capture();
    const serving = propletCommand(["serve", "--log-level", process.env.PROPELLER_TEST_LOG ?? "silent"], c.io, { ...env, PROPELLER_HEALTH_FILE: health });
    await waitFor(async () => (await client.proplets()).items.some((p) => p.id === "edge-y" && p.alive), 15_000, "edge-y live at the manager");
    expect(c.out.join("\n")).toContain("proplet edge-y connected");
    expect(await readFile(health, "utf8")).toContain("edge-y");
    // By now the impostor has announced and heartbeated many times: none of it arrived.
    await new Promise((r) => setTimeout(r, 1000));
    expect((await client.proplets()).items.map((p) => p.id)).not.toContain("edge-x");
    expect(announced.some((t) => t.includes("/edge-y/"))).toBe(true);
    expect(announced.some((t) => t.includes("/edge-x/"))).toBe(false);

    // Graceful stop on SIGTERM: the command returns 0 and the manager sees the proplet go.
    process.emit("SIGTERM", "SIGTERM");
    expect(await serving).toBe(0);
    await waitFor(async () => !(await client.proplets()).items.some((p) => p.id === "edge-y" && p.alive), 15_000, "edge-y offline");
  });
});

describe("embedded stack over mTLS (aedes + ACL hooks, client certificates)", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ proplets: 2, mtls: {}, logger });
    cleanups.push(() => stack.close());
  });

  it("runs a task end to end; the broker is mqtts:// and a rogue with proplet-2's certificate cannot read proplet-1's tasks", async () => {
    expect(stack.brokerUrl).toMatch(/^mqtts:\/\//);
    expect(stack.certsDir).not.toBeNull();
    const client = new ManagerClient({ baseUrl: stack.managerUrl, token: stack.managerToken });
    await waitFor(async () => (await client.proplets()).items.filter((p) => p.alive).length === 2, 15_000, "two proplets");

    const certs = stack.certsDir!;
    const ca = await readFile(join(certs, "ca.pem"));
    const topics = new Topics("propeller/v1");
    const rogue = await MqttConnection.connect({ url: stack.brokerUrl, clientId: "proplet-2:rogue", tls: { ca, cert: await readFile(join(certs, "proplet-2.pem")), key: await readFile(join(certs, "proplet-2.key")) } });
    cleanups.push(() => rogue.close());
    const stolen: string[] = [];
    // The ACL hooks refuse the subscriptions (SUBACK 0x80), and delivery is checked again anyway.
    await expect(rogue.subscribe(topics.proplet("proplet-1", "tasks/start"), (t) => void stolen.push(t))).rejects.toThrow(/Subscribe error/);
    await expect(rogue.subscribe("propeller/v1/#", (t) => void stolen.push(t))).rejects.toThrow(/Subscribe error/);
    // Its own topics work: the certificate is valid, only confined.
    await rogue.subscribe(topics.proplet("proplet-2", "tasks/start"), (t) => void stolen.push(t));

    const task = await runToEnd(client, { name: "hello", artifact: await exampleArtifact("hello/hello.wasm"), args: ["mtls"], target: "proplet-1" });
    expect(task.state).toBe("completed");
    expect(task.latestRun!.propletId).toBe("proplet-1");
    expect(task.latestRun!.result!.stdout).toContain("mtls");
    expect(stolen).toEqual([]);

    // Announcing as proplet-1 with proplet-2's certificate: the client id is bound to the identity
    // (refused at CONNECT), and a publish on proplet-1's topics ends the connection.
    const p2 = { ca, cert: await readFile(join(certs, "proplet-2.pem")), key: await readFile(join(certs, "proplet-2.key")) };
    await expect(MqttConnection.connect({ url: stack.brokerUrl, clientId: "proplet-1:proplet", tls: p2, connectTimeoutMs: 3000, reconnectPeriodMs: 0 })).rejects.toThrow();
    const announcer = await MqttConnection.connect({ url: stack.brokerUrl, clientId: "proplet-2:announcer", tls: p2, reconnectPeriodMs: 0 });
    cleanups.push(() => announcer.destroy());
    await announcer.publish(topics.proplet("proplet-2", "tasks/log"), Buffer.from("{}")); // its own topic: acknowledged
    expect(announcer.connected).toBe(true);
    // QoS 0: a refused QoS 1 publish would wait for a PUBACK that never comes.
    await announcer.publish(topics.proplet("proplet-1", "announce"), Buffer.from("{}"), { qos: 0 });
    await waitFor(() => !announcer.connected, 5000, "the impostor disconnected");

    // No certificate, no connection: plain MQTT is not even spoken on this port.
    await expect(MqttConnection.connect({ url: stack.brokerUrl, clientId: "anon", tls: { ca }, connectTimeoutMs: 3000, reconnectPeriodMs: 0 })).rejects.toThrow();
  });
});

describe("propeller up --mtls", () => {
  it("starts the embedded stack over mTLS, says so, and stops on SIGTERM; --certs without --mtls is a usage error", async () => {
    const { upCommand } = await import("../commands/up.js");
    const state = join(dir, "up-state");
    const c = capture();
    const port = await freePort();
    const running = upCommand(["--mtls", "--no-kbs", "--proplets", "1", "--port", String(port), "--state-dir", state, "--log-level", process.env.PROPELLER_TEST_LOG ?? "silent"], c.io);
    // A PGlite start and a PKI: slow on a loaded 2-core machine.
    await waitFor(() => c.out.some((l) => l.startsWith("try:")), 90_000, "up started");
    expect(c.out.join("\n")).toMatch(/broker {4}mqtts:\/\/127\.0\.0\.1:\d+/);
    expect(c.out.join("\n")).toMatch(/mTLS: client certificates from .* required, ACL enforced \(throwaway development PKI\)/);
    const client = new ManagerClient({ baseUrl: `http://127.0.0.1:${port}`, token: (await readFile(join(state, "manager-token"), "utf8")).trim() });
    await waitFor(async () => (await client.proplets()).items.some((p) => p.id === "proplet-1" && p.alive), 15_000, "proplet-1 over mTLS");
    process.emit("SIGTERM", "SIGTERM");
    expect(await running).toBe(0);
    await expect(main(["up", "--certs", dir], capture().io)).resolves.toBe(2);
  }, 150_000);
});
