/**
 * OCI delivery end to end: a real registry (Debian's docker-registry with htpasswd auth), the real
 * manager (pins tags at create time), real proplets (pull, disk cache by digest), real Mosquitto and
 * PostgreSQL. Every registry failure is a failed run with a clear error, and the proplet keeps
 * serving the next task.
 */
import { createServer, type Server } from "node:http";
import { truncate } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pushWasm } from "../../oci/index.js";
import { sha256Digest } from "../../protocol/index.js";
import { TEST_MQTT_URL } from "../../testing/mosquitto.js";
import { freePort } from "../../testing/net.js";
import { registryBlobPath, startRegistry, type TestRegistry } from "../../testing/registry.js";
import type { Task as TaskView } from "../../protocol/api/index.js";
import { example, startDeliveryStack, uniqueWasm, type DeliveryStack } from "./delivery-helpers.js";
import { runToEnd } from "./helpers.js";

const USER = "puller";
const PASSWORD = "right-password";
const MAX_ARTIFACT = 256 * 1024;

let registry: TestRegistry;
let broken: Server;
let brokenHost: string;
let stack: DeliveryStack;
let hello: Buffer;
const push = (repoTag: string, bytes: Buffer) =>
  pushWasm(`${registry.host}/${repoTag}`, bytes, { insecureRegistries: [registry.host], credentials: () => ({ username: USER, password: PASSWORD }) });

beforeAll(async () => {
  registry = await startRegistry({ auth: { kind: "htpasswd", username: USER, password: PASSWORD } });
  // A "registry" that answers 500 to everything.
  const port = await freePort();
  broken = createServer((_req, res) => res.writeHead(500, { "content-type": "text/plain" }).end("boom"));
  await new Promise<void>((r) => broken.listen(port, "127.0.0.1", r));
  brokenHost = `127.0.0.1:${port}`;
  const oci = (password: string) => ({ insecureRegistries: [registry.host, brokenHost], credentials: { [registry.host]: { username: USER, password } }, timeoutMs: 10_000 });
  stack = await startDeliveryStack({
    mqttUrl: TEST_MQTT_URL,
    manager: { delivery: { oci: { insecureRegistries: [registry.host], credentials: { [registry.host]: { username: USER, password: PASSWORD } } } } },
    proplets: [
      { id: "good", oci: oci(PASSWORD), artifactMaxBytes: MAX_ARTIFACT },
      { id: "wrongpw", oci: oci("wrong-password") },
      // Right credentials, but the registry is not listed as insecure: HTTPS only, never plain HTTP.
      { id: "strict", oci: { credentials: { [registry.host]: { username: USER, password: PASSWORD } }, timeoutMs: 10_000 } },
    ],
  });
  hello = await example("hello/hello.wasm");
}, 120_000);

afterAll(async () => {
  await stack?.close();
  if (broken) await new Promise((r) => broken.close(r));
  await registry?.dispose();
});

const art = (task: TaskView) => task.artifact as { digest: string; location: string; size: number | null; reference?: string };
const run = (artifact: Record<string, unknown>, target = "good", args: string[] = ["oci"]): Promise<TaskView> =>
  runToEnd(stack.client, { name: "oci", artifact, target, args }, 60_000);

async function expectServesNext(target: string): Promise<void> {
  const next = await runToEnd(stack.client, { name: "next", artifact: { digest: sha256Digest(hello), inline: hello.toString("base64") }, target, args: ["next"] }, 60_000);
  expect(next.state).toBe("completed");
  expect(next.latestRun!.result!.stdout).toContain("next");
}

describe("OCI delivery through manager and proplet", () => {
  it("runs by tag: the manager pins the tag to the manifest digest and the layer digest", async () => {
    const bytes = uniqueWasm(hello, "by-tag");
    const pushed = await push("apps/hello:1.0", bytes);
    const task = await run({ oci: `${registry.host}/apps/hello:1.0` });
    expect(task.state).toBe("completed");
    expect(task.latestRun!.result!.stdout).toContain("oci");
    expect(art(task)).toMatchObject({ location: "oci", digest: sha256Digest(bytes), size: bytes.byteLength, reference: `${registry.host}/apps/hello@${pushed.manifestDigest}` });
    // The receipt names the layer the proplet ran, and the manager checked it against the pinned digest.
    expect(task.latestRun!.receiptCheck!.ok).toBe(true);

    // The tag moves: the task still runs what it was pinned to.
    await push("apps/hello:1.0", uniqueWasm(hello, "moved"));
    await stack.client.startTask(task.id);
    const again = await stack.client.waitForFinish(task.id, 60_000);
    expect(again.state).toBe("completed");
    expect(art(again).digest).toBe(sha256Digest(bytes));
  }, 120_000);

  it("runs by digest", async () => {
    const bytes = uniqueWasm(hello, "by-digest");
    const pushed = await push("apps/bydigest:x", bytes);
    const task = await run({ oci: `${registry.host}/apps/bydigest@${pushed.manifestDigest}` });
    expect(task.state).toBe("completed");
    expect(art(task).digest).toBe(sha256Digest(bytes));
  }, 120_000);

  it("a reference the manager cannot resolve is refused at create time, naming the registry's answer", async () => {
    await expect(stack.client.createTask({ name: "x", artifact: { oci: `${registry.host}/apps/nothing-here:1` } })).rejects.toMatchObject({ status: 400, code: expect.stringMatching(/^oci_(manifest|repository)_unknown$/) });
    await expect(stack.client.createTask({ name: "x", artifact: { oci: "not a reference" } })).rejects.toMatchObject({ status: 400, code: "invalid_reference" });
  });

  it("registry 404 (digest given, so only the proplet asks): a failed run, then the next task runs", async () => {
    const task = await run({ oci: `${registry.host}/apps/missing:1`, digest: sha256Digest("missing") });
    expect(task.state).toBe("failed");
    expect(task.latestRun!.result!.error).toMatchObject({ code: expect.stringMatching(/^oci_(manifest|repository)_unknown$/) });
    expect(task.latestRun!.result!.error!.message).toContain("apps/missing");
    await expectServesNext("good");
  }, 120_000);

  it("registry 401 (wrong credentials on the proplet): oci_unauthorized, no password in the error; the proplet keeps serving", async () => {
    await push("apps/auth:1", uniqueWasm(hello, "auth"));
    const task = await run({ oci: `${registry.host}/apps/auth:1` }, "wrongpw");
    expect(task.state).toBe("failed");
    expect(task.latestRun!.result!.error!.code).toBe("oci_unauthorized");
    expect(JSON.stringify(task)).not.toContain("wrong-password");
    await expectServesNext("wrongpw");
  }, 120_000);

  it("a registry not listed as insecure is reached over HTTPS only: a plain-HTTP registry fails clearly, no fallback", async () => {
    await push("apps/strict:1", uniqueWasm(hello, "strict"));
    const task = await run({ oci: `${registry.host}/apps/strict:1` }, "strict");
    expect(task.state).toBe("failed");
    expect(task.latestRun!.result!.error!.code).toMatch(/^oci_(unreachable|insecure_refused)$/);
    expect(JSON.stringify(task)).not.toContain(PASSWORD);
    await expectServesNext("strict");
  }, 120_000);

  it("registry 500: oci_registry_error with the status; the proplet keeps serving", async () => {
    const task = await run({ oci: `${brokenHost}/apps/x:1`, digest: sha256Digest("x") });
    expect(task.state).toBe("failed");
    expect(task.latestRun!.result!.error!.code).toBe("oci_registry_error");
    expect(task.latestRun!.result!.error!.message).toMatch(/500/);
    await expectServesNext("good");
  }, 120_000);

  it("wrong digest (the task names other bytes than the reference holds): digest_mismatch, nothing runs", async () => {
    await push("apps/wrong:1", uniqueWasm(hello, "wrong"));
    const task = await run({ oci: `${registry.host}/apps/wrong:1`, digest: sha256Digest("something else") });
    expect(task.state).toBe("failed");
    expect(task.latestRun!.result!.error!.code).toBe("digest_mismatch");
    expect(task.latestRun!.result!.stdout).toBe("");
    await expectServesNext("good");
  }, 120_000);

  it("truncated blob in the registry's storage: a clear failure, never a run of partial bytes", async () => {
    const bytes = uniqueWasm(hello, "truncated");
    await push("apps/trunc:1", bytes);
    await truncate(registryBlobPath(registry.storageDir, sha256Digest(bytes)), 1000);
    const task = await run({ oci: `${registry.host}/apps/trunc:1`, digest: sha256Digest(bytes) });
    expect(task.state).toBe("failed");
    expect(task.latestRun!.result!.error!.code).toMatch(/^(oci_truncated|digest_mismatch|too_large)$/);
    expect(task.latestRun!.result!.stdout).toBe("");
    await expectServesNext("good");
  }, 120_000);

  it("oversized artifact (over the proplet's artifactMaxBytes): refused before its layer is fetched", async () => {
    const big = uniqueWasm(hello, "big", MAX_ARTIFACT + 64 * 1024);
    await push("apps/big:1", big);
    const task = await run({ oci: `${registry.host}/apps/big:1` });
    expect(task.state).toBe("failed");
    expect(task.latestRun!.result!.error!.code).toMatch(/too_large/);
    expect(task.latestRun!.result!.error!.message).toMatch(String(MAX_ARTIFACT));
    await expectServesNext("good");
  }, 120_000);

  it("warm start: a cached layer runs with the registry gone (pinned digest, no registry request)", async () => {
    const bytes = uniqueWasm(hello, "warm");
    await push("apps/warm:1", bytes);
    const first = await run({ oci: `${registry.host}/apps/warm:1` });
    expect(first.state).toBe("completed");
    await registry.stop();
    await stack.client.startTask(first.id);
    const second = await stack.client.waitForFinish(first.id, 60_000);
    expect(second.state).toBe("completed");
    expect(second.latestRun!.id).not.toBe(first.latestRun!.id);
  }, 120_000);
});
