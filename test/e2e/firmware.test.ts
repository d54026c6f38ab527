/**
 * The C proplet (firmware/, built here under ASan + UBSan) against the real manager on the
 * embedded stack (aedes + PGlite): an export call whose receipt the manager's own receipt check
 * passes and protocol/'s verifier accepts with the announced identity key; a chunked module larger
 * than one chunk; a trap; a runaway loop stopped by fuel; a memory bomb refused. Every message
 * the C proplet published during the run is fed through protocol/'s codec (the TS schemas).
 * Then over mTLS: the embedded broker requiring client certificates and enforcing the ACL, the C
 * proplet using a certificate issued by the project's CA code, as is.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import pino from "pino";
import initWabt from "wabt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../../cli/stack.js";
import { ManagerClient } from "../../cli/manager-client.js";
import { PROPLET_PUBLISHES, decodeTopicMessage, sha256Digest, verifyReceipt, type PropletTopicName, type PublicJwk } from "../../protocol/index.js";
import { uniqueTopicRoot, waitFor } from "../../testing/net.js";
import { createTestPki, type TestPki } from "../../testing/tls.js";
import { EXAMPLES_DIR, REPO_ROOT } from "../../testing/paths.js";
import { uniqueWasm } from "./delivery-helpers.js";
import { runToEnd, waitForProplets } from "./helpers.js";

const logger = pino({ level: process.env.PROPELLER_TEST_LOG ?? "silent" });
const FIRMWARE = join(REPO_ROOT, "firmware");
const BUILD = join(FIRMWARE, "build", "asan");
const BINARY = join(BUILD, "ports", "posix", "propeller-proplet-c");
const ID = "c-proplet-1";

/** Builds the firmware once (the same build firmware/test.sh makes). */
function buildFirmware(): void {
  // Ninja when there is no build folder yet (a fresh CI machine may have no make); else its own generator.
  const ninja = !existsSync(join(BUILD, "CMakeCache.txt")) && spawnSync("ninja", ["--version"]).status === 0;
  const configure = spawnSync("cmake", ["-S", FIRMWARE, "-B", BUILD, "-DPW_SANITIZE=ON", ...(ninja ? ["-G", "Ninja"] : [])], { encoding: "utf8" });
  if (configure.status !== 0) throw new Error(`cmake configure failed:\n${configure.stdout}\n${configure.stderr}`);
  const build = spawnSync("cmake", ["--build", BUILD, "-j2", "--target", "propeller-proplet-c"], { encoding: "utf8" });
  if (build.status !== 0) throw new Error(`firmware build failed:\n${build.stdout}\n${build.stderr}`);
}

async function wat(text: string): Promise<Buffer> {
  const wabt = await initWabt();
  const m = wabt.parseWat("t.wat", text, {});
  try {
    return Buffer.from(m.toBinary({}).buffer);
  } finally {
    m.destroy();
  }
}

/** Starts the C proplet; resolves once it is live on the manager. */
function startCProplet(env: Record<string, string>): { proc: ChildProcess; stderr: () => string } {
  let err = "";
  const proc = spawn(BINARY, [], { env: { ...process.env, ASAN_OPTIONS: "detect_leaks=1", ...env }, stdio: ["ignore", "ignore", "pipe"] });
  proc.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  return { proc, stderr: () => err };
}

/** SIGTERM: a graceful stop (offline status, DISCONNECT); the exit code (LeakSanitizer makes a leak non-zero). */
async function stopCProplet(proc: ChildProcess | undefined): Promise<number | null> {
  if (!proc) return null;
  if (proc.exitCode !== null) return proc.exitCode;
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  proc.kill("SIGTERM");
  return exited;
}

const inline = (bytes: Buffer) => ({ digest: sha256Digest(bytes), inline: bytes.toString("base64") });

describe("the C proplet against the real manager (embedded stack)", () => {
  let stack: Stack;
  let client: ManagerClient;
  let c: { proc: ChildProcess; stderr: () => string } | undefined;
  let dir: string;
  let capture: mqtt.MqttClient;
  const published: Array<{ name: PropletTopicName; payload: Buffer }> = [];
  const target = { target: ID };
  const limits = { memoryBytes: 131072, timeoutMs: 5000 };

  beforeAll(async () => {
    buildFirmware();
    const topicRoot = uniqueTopicRoot();
    stack = await startStack({ proplets: 0, logger, topicRoot });
    client = new ManagerClient({ baseUrl: stack.managerUrl, token: stack.managerToken });
    // Every message on the C proplet's topics, to check each one it published against protocol/.
    capture = await mqtt.connectAsync(stack.brokerUrl, { clientId: `capture-${process.pid}` });
    await capture.subscribeAsync(`${topicRoot}/proplets/${ID}/#`, { qos: 1 });
    capture.on("message", (topic, payload) => {
      const name = topic.slice(`${topicRoot}/proplets/${ID}/`.length) as PropletTopicName;
      if (PROPLET_PUBLISHES.includes(name)) published.push({ name, payload: Buffer.from(payload) });
    });
    dir = await mkdtemp(join(tmpdir(), "propeller-c-proplet-"));
    c = startCProplet({
      PROPELLER_MQTT_URL: stack.brokerUrl,
      PROPELLER_PROPLET_ID: ID,
      PROPELLER_TOPIC_ROOT: topicRoot,
      PROPELLER_IDENTITY_FILE: join(dir, "identity.key"),
      PROPELLER_SLOT_BYTES: String(2 * 1024 * 1024),
      PROPELLER_ARTIFACT_MAX_BYTES: String(600 * 1024),
      PROPELLER_HEARTBEAT_MS: "1000",
      PROPELLER_PROPLET_TAGS: "mcu",
    });
    await waitForProplets(client, 1);
  }, 180_000);

  afterAll(async () => {
    const code = await stopCProplet(c?.proc);
    await capture?.endAsync();
    await stack?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
    expect(code, `the C proplet's exit code (stderr:\n${c?.stderr().slice(-2000)})`).toBe(0);
  });

  it("calls an export; the manager's receipt check and protocol's verifier accept the receipt", async () => {
    const task = await runToEnd(client, {
      name: "c-add",
      artifact: inline(await readFile(join(EXAMPLES_DIR, "add/add.wasm"))),
      entrypoint: { kind: "export", name: "add", inputs: [20, 22] },
      limits,
      ...target,
    });
    expect(task.state).toBe("completed");
    const run = task.latestRun!;
    expect(run.result!.returnValues).toEqual([42]);
    expect(run.receiptCheck).toMatchObject({ ok: true, attested: false });
    const announce = published.map((m) => decodeTopicMessage(m.name, m.payload)).find((m) => m.kind === "proplet.announce");
    const key = (announce as { identityKey?: PublicJwk } | undefined)?.identityKey;
    expect(key).toMatchObject({ kty: "EC", crv: "P-256" });
    const jws = await client.receipt(task.id, run.id);
    const verified = await verifyReceipt(jws, { allowUnattested: true, propletKey: key!, runId: run.id, propletId: ID });
    expect(verified.checks.filter((c) => !c.ok)).toEqual([]);
    expect(verified.ok).toBe(true);
  });

  it("assembles a chunked module larger than one chunk (MQTT delivery) and runs it", async () => {
    const add = await readFile(join(EXAMPLES_DIR, "add/add.wasm"));
    const big = uniqueWasm(add, "c-chunked", 400 * 1024); // the manager's chunks are 256 KiB
    const digest = sha256Digest(big);
    const put = await fetch(`${stack.managerUrl}/artifacts/${digest}`, {
      method: "PUT",
      headers: { "content-type": "application/wasm", authorization: `Bearer ${stack.managerToken}` },
      body: big,
    });
    expect(put.status).toBe(201);
    const task = await runToEnd(client, { name: "c-chunked", artifact: { digest, delivery: "mqtt" }, entrypoint: { kind: "export", name: "add", inputs: [1, 2] }, limits, ...target });
    expect(task.state).toBe("completed");
    expect(task.latestRun!.result!.returnValues).toEqual([3]);
    expect(published.filter((m) => m.name === "artifacts/request").length).toBeGreaterThanOrEqual(1);
  });

  it("reports a trap, stops a runaway loop by fuel, refuses a memory bomb; and keeps serving", async () => {
    const trap = await runToEnd(client, { name: "c-trap", artifact: inline(await wat('(module (func (export "f") unreachable))')), entrypoint: { kind: "export", name: "f", inputs: [] }, limits, retry: { maxAttempts: 1 }, ...target });
    expect(trap.state).toBe("failed");
    expect(trap.latestRun!.result!.error).toMatchObject({ code: "trap" });
    const began = Date.now();
    const loop = await runToEnd(client, { name: "c-loop", artifact: inline(await wat('(module (func (export "spin") (loop (br 0))))')), entrypoint: { kind: "export", name: "spin", inputs: [] }, limits: { ...limits, timeoutMs: 300 }, retry: { maxAttempts: 1 }, ...target });
    expect(loop.state).toBe("failed");
    expect(loop.latestRun!.result!.error).toMatchObject({ code: "timeout" });
    expect(Date.now() - began).toBeLessThan(20_000);
    const bomb = await runToEnd(client, { name: "c-bomb", artifact: inline(await wat('(module (memory 64) (func (export "f") (result i32) i32.const 1))')), entrypoint: { kind: "export", name: "f", inputs: [] }, limits, retry: { maxAttempts: 1 }, ...target });
    expect(bomb.state).toBe("failed");
    expect(bomb.latestRun!.result!.error).toMatchObject({ code: "memory_limit" });
    const after = await runToEnd(client, { name: "c-after", artifact: inline(await readFile(join(EXAMPLES_DIR, "add/add.wasm"))), entrypoint: { kind: "export", name: "add", inputs: [2, 3] }, limits, ...target });
    expect(after.latestRun!.result!.returnValues).toEqual([5]);
  });

  it("published only messages that protocol/'s schemas accept", async () => {
    await waitFor(() => published.some((m) => m.name === "heartbeat"), 10_000, "a heartbeat");
    expect(published.length).toBeGreaterThan(10);
    const kinds = new Set<string>();
    for (const m of published) {
      const decoded = decodeTopicMessage(m.name, m.payload); // throws SchemaError on anything off
      kinds.add(decoded.kind);
    }
    expect([...kinds].sort()).toEqual(["artifact.request", "proplet.announce", "proplet.heartbeat", "proplet.status", "task.accepted", "task.result"]);
    expect(c!.stderr()).not.toMatch(/ERROR: (Address|Undefined)Sanitizer|runtime error/);
  });
});

describe("the C proplet over mTLS (embedded broker with client certificates and the ACL)", () => {
  let stack: Stack;
  let pki: TestPki;
  let client: ManagerClient;
  let c: { proc: ChildProcess; stderr: () => string } | undefined;
  let dir: string;

  beforeAll(async () => {
    buildFirmware();
    pki = await createTestPki({ proplets: ["c-mtls"] });
    const topicRoot = uniqueTopicRoot();
    stack = await startStack({ proplets: 0, logger, topicRoot, mtls: { certsDir: pki.dir } });
    client = new ManagerClient({ baseUrl: stack.managerUrl, token: stack.managerToken });
    dir = await mkdtemp(join(tmpdir(), "propeller-c-mtls-"));
    c = startCProplet({
      PROPELLER_MQTT_URL: stack.brokerUrl,
      PROPELLER_MQTT_CA_FILE: join(pki.dir, "ca.pem"),
      PROPELLER_MQTT_CERT_FILE: join(pki.dir, "c-mtls.pem"),
      PROPELLER_MQTT_KEY_FILE: join(pki.dir, "c-mtls.key"),
      PROPELLER_PROPLET_ID: "c-mtls",
      PROPELLER_TOPIC_ROOT: topicRoot,
      PROPELLER_IDENTITY_FILE: join(dir, "identity.key"),
    });
    await waitForProplets(client, 1).catch((err: unknown) => {
      throw new Error(`${String(err)}; the C proplet said:\n${c!.stderr()}`);
    });
  }, 180_000);

  afterAll(async () => {
    await stopCProplet(c?.proc);
    await stack?.close();
    await pki?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("runs an export call with a receipt the manager accepts", async () => {
    expect(stack.brokerUrl).toMatch(/^mqtts:/);
    const task = await runToEnd(client, {
      name: "c-mtls-add",
      artifact: inline(await readFile(join(EXAMPLES_DIR, "add/add.wasm"))),
      entrypoint: { kind: "export", name: "add", inputs: [40, 2] },
      limits: { memoryBytes: 131072, timeoutMs: 5000 },
      target: "c-mtls",
    });
    expect(task.state).toBe("completed");
    expect(task.latestRun!.result!.returnValues).toEqual([42]);
    expect(task.latestRun!.receiptCheck).toMatchObject({ ok: true });
  });
});
