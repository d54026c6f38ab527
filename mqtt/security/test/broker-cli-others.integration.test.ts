/**
 * `propeller broker config --broker nats|rabbitmq`: the files an operator gets, and the NATS flow
 * for a new proplet (regenerate, reload: the new certificate is admitted without a restart).
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { brokerCommand } from "../../../cli/commands/broker.js";
import { UsageError } from "../../../cli/errors.js";
import { stopChildProcess } from "../../../lib/supervisor.js";
import { MqttConnection } from "../../client.js";
import { natsServerAvailable } from "../../../testing/brokers.js";
import { describeWhen } from "../../../testing/describe-when.js";
import { canConnect, freePort, uniqueTopicRoot, waitFor } from "../../../testing/net.js";
import { createTestPki, type TestPki } from "../../../testing/tls.js";

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});
const io = { out: () => undefined, err: () => undefined };

async function setup(): Promise<{ pki: TestPki; out: string }> {
  const pki = await createTestPki({ proplets: ["p1", "p2"] });
  cleanups.push(() => pki.dispose());
  const out = await mkdtemp(join(tmpdir(), "propeller-broker-cli-"));
  cleanups.push(() => rm(out, { recursive: true, force: true }));
  return { pki, out };
}

it("broker config refuses an unknown broker, and nats/rabbitmq without --proplets", async () => {
  const { pki, out } = await setup();
  await expect(brokerCommand(["config", "--broker", "hivemq", "--certs", pki.dir, "--out", out], io)).rejects.toThrow(/mosquitto, nats or rabbitmq/);
  await expect(brokerCommand(["config", "--broker", "nats", "--certs", pki.dir, "--out", out], io)).rejects.toBeInstanceOf(UsageError);
  await expect(brokerCommand(["config", "--broker", "rabbitmq", "--certs", pki.dir, "--out", out, "--proplets", "p.1"], io)).rejects.toThrow(/routing-key rule/);
});

it("broker config --broker rabbitmq writes rabbitmq.conf and the definitions it imports", async () => {
  const { pki, out } = await setup();
  expect(await brokerCommand(["config", "--broker", "rabbitmq", "--certs", pki.dir, "--out", out, "--proplets", "p1,p2", "--port", "8884"], io)).toBe(0);
  const conf = await readFile(join(out, "rabbitmq.conf"), "utf8");
  expect(conf).toContain("mqtt.listeners.ssl.default = 127.0.0.1:8884");
  expect(conf).toContain(`definitions.local.path = ${join(out, "definitions.json")}`);
  const defs = JSON.parse(await readFile(join(out, "definitions.json"), "utf8")) as { users: Array<{ name: string }> };
  expect(defs.users.map((u) => u.name)).toEqual(["manager", "p1", "p2"]);
});

describeWhen("broker config --broker nats", natsServerAvailable(), { test: "has nats-server", why: "nats-server is not installed", skip: "nats-server is not installed" }, () => {
  it("writes a config nats-server runs; a new proplet is admitted after regenerating and a reload", async () => {
    const { pki, out } = await setup();
    const [port, clientPort] = [await freePort(), await freePort()];
    const root = uniqueTopicRoot();
    const write = (proplets: string) => brokerCommand(["config", "--broker", "nats", "--certs", pki.dir, "--out", out, "--proplets", proplets, "--port", String(port), "--client-port", String(clientPort), "--root", root], io);
    expect(await write("p1")).toBe(0);
    const proc = spawn("nats-server", ["-c", join(out, "nats.conf")], { stdio: "ignore" });
    cleanups.push(() => stopChildProcess(proc));
    await waitFor(() => canConnect(port), 20_000, "nats-server's MQTT listener");
    const connect = async (name: string) =>
      MqttConnection.connect({ url: `mqtts://127.0.0.1:${port}`, clientId: `${name}:proplet`, tls: { ca: pki.ca, ...(await pki.identity(name)) }, reconnectPeriodMs: 0, connectTimeoutMs: 3000 });
    const p1 = await connect("p1");
    await p1.subscribe(`${root}/proplets/p1/tasks/start`, () => undefined);
    await p1.close();
    await expect(connect("p2")).rejects.toThrow();
    expect(await write("p1,p2")).toBe(0);
    proc.kill("SIGHUP"); // nats-server --signal reload
    const p2 = await waitFor(() => connect("p2").catch(() => null), 15_000, "p2 admitted after the reload");
    await p2.subscribe(`${root}/proplets/p2/tasks/start`, () => undefined);
    await expect(p2.subscribe(`${root}/proplets/p1/tasks/start`, () => undefined)).rejects.toThrow();
    await p2.close();
  }, 60_000);
});
