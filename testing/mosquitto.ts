import { stopProcess } from "./process.js";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { canConnect, freePort } from "./net.js";

/** The machine's Mosquitto, used by tests that need a real broker but not to restart it. */
export const TEST_MQTT_URL = process.env.PROPELLER_TEST_MQTT ?? "mqtt://127.0.0.1:1883";

export interface PrivateMosquitto {
  url: string;
  port: number;
  /** Stops the broker process (SIGTERM, then SIGKILL). */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same configuration. */
  start(): Promise<void>;
  dispose(): Promise<void>;
}

/**
 * Starts a Mosquitto of this test's own on a free loopback port, so the test can stop and restart
 * it (broker-restart tests) without touching the shared broker. `extraConfig` is appended.
 */
export async function startPrivateMosquitto(extraConfig = ""): Promise<PrivateMosquitto> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), "propeller-mosquitto-"));
  const configPath = join(dir, "mosquitto.conf");
  await writeFile(
    configPath,
    [
      `listener ${port} 127.0.0.1`,
      "allow_anonymous true",
      "persistence false",
      // Mosquitto's default of 1000 silently drops QoS 1 messages to slow subscribers (TOOLCHAIN.md).
      "max_queued_messages 100000",
      // Nagle's algorithm on the broker's side costs ~40 ms per small message (delayed ACKs).
      "set_tcp_nodelay true",
      extraConfig,
    ].join("\n"),
  );
  let child: ChildProcess | undefined;

  const start = async () => {
    child = spawn("mosquitto", ["-c", configPath], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    const deadline = Date.now() + 5000;
    while (!(await canConnect(port))) {
      if (child.exitCode !== null) throw new Error(`mosquitto exited: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${port}: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const stop = async () => {
    const proc = child;
    child = undefined;
    await stopProcess(proc, 2000);
  };
  await start();
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    start,
    stop,
    async dispose() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

