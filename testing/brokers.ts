/**
 * The other MQTT brokers users run Propeller on, for the broker interop suite:
 *   - NATS (nats-server with its MQTT gateway, which needs JetStream): a private instance per test,
 *     on free loopback ports, with its own store;
 *   - RabbitMQ (rabbitmq_mqtt plugin): the machine's broker, MQTT listener on 127.0.0.1:1884
 *     (1883 is Mosquitto's); .ci/run enables the plugin there.
 * Both speak MQTT 3.1.1 with QoS 0 and 1, wills and clean sessions: what Propeller uses.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { canConnect, freePort, waitFor } from "./net.js";
import { stopChildProcess } from "../lib/supervisor.js";

export const RABBITMQ_MQTT_PORT = Number(process.env.PROPELLER_TEST_RABBITMQ_MQTT_PORT ?? 1884);

export function natsServerAvailable(): boolean {
  const r = spawnSync("nats-server", ["--version"], { stdio: "ignore", timeout: 5000 });
  return r.error === undefined && r.status === 0;
}

export function rabbitMqttAvailable(): Promise<boolean> {
  return canConnect(RABBITMQ_MQTT_PORT);
}

export interface PrivateNats {
  /** mqtt://127.0.0.1:<port> of its MQTT gateway. */
  mqttUrl: string;
  dispose(): Promise<void>;
}

export async function startPrivateNats(): Promise<PrivateNats> {
  const dir = await mkdtemp(join(tmpdir(), "propeller-nats-"));
  const [clientPort, mqttPort] = [await freePort(), await freePort()];
  const config = join(dir, "nats.conf");
  await writeFile(
    config,
    [
      `listen: 127.0.0.1:${clientPort}`,
      // The MQTT gateway keeps sessions and QoS 1 messages in JetStream, which needs a server name.
      `server_name: propeller_test_${mqttPort}`,
      `jetstream { store_dir: ${JSON.stringify(join(dir, "js"))} }`,
      `mqtt { listen: 127.0.0.1:${mqttPort} }`,
    ].join("\n"),
  );
  let output = "";
  const proc: ChildProcess = spawn("nats-server", ["-c", config], { stdio: ["ignore", "pipe", "pipe"] });
  const keep = (d: Buffer) => void (output = (output + d.toString("utf8")).slice(-4000));
  proc.stdout?.on("data", keep);
  proc.stderr?.on("data", keep);
  const dispose = async () => {
    await stopChildProcess(proc);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(async () => {
      if (proc.exitCode !== null) throw new Error(`nats-server exited: ${output}`);
      return canConnect(mqttPort);
    }, 20_000, "nats-server's MQTT gateway");
  } catch (err) {
    await dispose();
    throw err;
  }
  return { mqttUrl: `mqtt://127.0.0.1:${mqttPort}`, dispose };
}
