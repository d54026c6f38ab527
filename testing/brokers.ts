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
import { natsConfig } from "../mqtt/security/nats-config.js";

export const RABBITMQ_MQTT_PORT = Number(process.env.PROPELLER_TEST_RABBITMQ_MQTT_PORT ?? 1884);

export function natsServerAvailable(): boolean {
  const r = spawnSync("nats-server", ["--version"], { stdio: "ignore", timeout: 5000 });
  return r.error === undefined && r.status === 0;
}

export function rabbitMqttAvailable(): Promise<boolean> {
  return canConnect(RABBITMQ_MQTT_PORT);
}

export interface PrivateNats {
  /** mqtt://127.0.0.1:<port> (mqtts:// with `mtls`) of its MQTT gateway. */
  mqttUrl: string;
  /** What nats-server logged lately (permission violations, refused logins). */
  log(): string;
  dispose(): Promise<void>;
}

export interface PrivateNatsOptions {
  /**
   * The production setup: the config mqtt/security/nats-config.ts generates (mTLS, identities
   * from certificates, per-proplet subject rules) for the PKI in `certsDir` (ca.pem, broker-chain.pem).
   */
  mtls?: { certsDir: string; proplets: string[]; topicRoot: string };
}

export async function startPrivateNats(options: PrivateNatsOptions = {}): Promise<PrivateNats> {
  const dir = await mkdtemp(join(tmpdir(), "propeller-nats-"));
  const [clientPort, mqttPort] = [await freePort(), await freePort()];
  const config = join(dir, "nats.conf");
  // The MQTT gateway keeps sessions and QoS 1 messages in JetStream, which needs a server name.
  const serverName = `propeller_test_${mqttPort}`;
  const storeDir = join(dir, "js");
  const mtls = options.mtls;
  await writeFile(
    config,
    mtls
      ? natsConfig({
          proplets: mtls.proplets,
          topicRoot: mtls.topicRoot,
          mqttPort,
          clientPort,
          caFile: join(mtls.certsDir, "ca.pem"),
          certFile: join(mtls.certsDir, "broker-chain.pem"),
          keyFile: join(mtls.certsDir, "broker.key"),
          storeDir,
          serverName,
        })
      : [`listen: 127.0.0.1:${clientPort}`, `server_name: ${serverName}`, `jetstream { store_dir: ${JSON.stringify(storeDir)} }`, `mqtt { listen: 127.0.0.1:${mqttPort} }`].join("\n"),
  );
  let output = "";
  const proc: ChildProcess = spawn("nats-server", ["-c", config], { stdio: ["ignore", "pipe", "pipe"] });
  const keep = (d: Buffer) => void (output = (output + d.toString("utf8")).slice(-64_000));
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
  return { mqttUrl: `${mtls ? "mqtts" : "mqtt"}://127.0.0.1:${mqttPort}`, log: () => output, dispose };
}
