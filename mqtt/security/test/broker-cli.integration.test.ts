import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { brokerCommand } from "../../../cli/commands/broker.js";
import { UsageError } from "../../../cli/errors.js";
import { Topics } from "../../../protocol/topics.js";
import { MqttConnection } from "../../client.js";
import { loadCredentials, verifyPassword } from "../credentials.js";
import { BrokerConfigError, MOSQUITTO_MAX_QUEUED_MESSAGES, mosquittoConfig, writeMosquittoConfig } from "../mosquitto-config.js";
import { freePort, uniqueTopicRoot, waitFor } from "../../../testing/net.js";
import { createTestPki, startMosquittoWithConfig, type TestPki } from "../../../testing/tls.js";

function capture() {
  const out: string[] = [];
  return { io: { out: (t: string) => void out.push(t), err: (t: string) => void out.push(t) }, out };
}

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

describe("mosquittoConfig", () => {
  it("has one mTLS listener with identities from certificates, no anonymous access, the ACL and persistence", () => {
    const text = mosquittoConfig({ port: 8883, caFile: "/c/ca.pem", certFile: "/c/broker-chain.pem", keyFile: "/c/broker.key", aclFile: "/o/acl", persistenceDir: "/o/data" });
    const lines = text.split("\n");
    for (const line of [
      "allow_anonymous false",
      "listener 8883 127.0.0.1",
      "cafile /c/ca.pem",
      "certfile /c/broker-chain.pem",
      "keyfile /c/broker.key",
      "require_certificate true",
      "use_identity_as_username true",
      "acl_file /o/acl",
      "persistence true",
      "persistence_location /o/data/",
      `max_queued_messages ${MOSQUITTO_MAX_QUEUED_MESSAGES}`,
    ]) {
      expect(lines).toContain(line);
    }
    expect(MOSQUITTO_MAX_QUEUED_MESSAGES).toBeGreaterThanOrEqual(100_000);
    expect(text).not.toMatch(/^listener 1883/m);
  });

  it("refuses values Mosquitto would misread", () => {
    const base = { port: 8883, caFile: "/c/ca.pem", certFile: "/c/b.pem", keyFile: "/c/b.key", aclFile: "/o/acl", persistenceDir: "/o/data" };
    expect(() => mosquittoConfig({ ...base, caFile: "/my certs/ca.pem" })).toThrow(BrokerConfigError);
    expect(() => mosquittoConfig({ ...base, aclFile: "/o/acl\nallow_anonymous true" })).toThrow(BrokerConfigError);
    expect(() => mosquittoConfig({ ...base, port: 70_000 })).toThrow(BrokerConfigError);
  });

  it("refuses to write a config for certificates that do not exist", async () => {
    const empty = await mkdtemp(join(tmpdir(), "propeller-empty-"));
    cleanups.push(() => rm(empty, { recursive: true, force: true }));
    await expect(writeMosquittoConfig({ certsDir: empty, outDir: join(empty, "out") })).rejects.toBeInstanceOf(BrokerConfigError);
  });
});

describe("propeller broker (CLI)", () => {
  let pki: TestPki;

  it("`broker config` writes a config Mosquitto runs; the product's MqttConnection then works over mTLS", async () => {
    pki = await createTestPki({ proplets: ["p1"] });
    cleanups.push(() => pki.dispose());
    const out = await mkdtemp(join(tmpdir(), "propeller-broker-cli-"));
    cleanups.push(() => rm(out, { recursive: true, force: true }));
    const port = await freePort();
    const root = uniqueTopicRoot();
    const { io, out: printed } = capture();
    const args = ["config", "--certs", pki.dir, "--out", out, "--port", String(port), "--root", root];
    // As root Mosquitto drops to user "mosquitto", which cannot read this test's 0700 temp dirs.
    if (process.getuid?.() === 0) args.push("--user", "root");
    expect(await brokerCommand(args, io)).toBe(0);
    expect(printed.join("\n")).toContain(join(out, "mosquitto.conf"));
    const acl = await readFile(join(out, "acl"), "utf8");
    expect(acl).toContain(`pattern write ${root}/proplets/%u/announce`);

    const mosquitto = await startMosquittoWithConfig(join(out, "mosquitto.conf"), port);
    cleanups.push(() => mosquitto.stop());
    const url = `mqtts://127.0.0.1:${port}`;
    const topics = new Topics(root);
    const manager = await MqttConnection.connect({ url, clientId: "manager", tls: { ca: pki.ca, ...(await pki.identity("manager-client")) } });
    cleanups.push(() => manager.close());
    const got: string[] = [];
    await manager.subscribe(topics.allProplets("announce"), (_t, p) => void got.push(p.toString()));
    const p1 = await MqttConnection.connect({ url, clientId: "p1", tls: { ca: pki.ca, ...(await pki.identity("p1")) } });
    cleanups.push(() => p1.close());
    await p1.publish(topics.proplet("p1", "announce"), Buffer.from("hello over mTLS"));
    await waitFor(() => got.includes("hello over mTLS"), 10_000, "announce through Mosquitto");
    // Persistence is on and goes where the config says.
    expect((await stat(join(out, "data"))).isDirectory()).toBe(true);
  });

  it("`broker passwd` stores only an scrypt hash (0600) and prints the password once", async () => {
    const dir = await mkdtemp(join(tmpdir(), "propeller-passwd-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, "credentials.json");
    const first = capture();
    expect(await brokerCommand(["passwd", "p7", "--file", file], first.io)).toBe(0);
    const second = capture();
    expect(await brokerCommand(["passwd", "p8", "--file", file], second.io)).toBe(0);
    // The password alone is the result (stdout, written first); the advice follows on stderr.
    const password = first.out[0]!.trim();
    expect(first.out[1]).toMatch(/for p7, shown once/);
    const raw = await readFile(file, "utf8");
    expect(raw).not.toContain(password);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const store = await loadCredentials(file);
    expect([...store.keys()].sort()).toEqual(["p7", "p8"]);
    expect(await verifyPassword(password, store.get("p7")!)).toBe(true);
    expect(await verifyPassword(password, store.get("p8")!)).toBe(false);
    await expect(brokerCommand(["passwd", "manager", "--file", file], first.io)).rejects.toBeInstanceOf(UsageError);
    await expect(brokerCommand(["config", "--out", dir], first.io)).rejects.toBeInstanceOf(UsageError);
    await expect(brokerCommand(["nope"], first.io)).rejects.toBeInstanceOf(UsageError);
  });
});
