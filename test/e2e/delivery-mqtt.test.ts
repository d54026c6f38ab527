/**
 * Chunked MQTT delivery end to end: artifacts uploaded to the real manager (PostgreSQL, stored in
 * chunks), delivered to real proplets over a real Mosquitto that this test restarts mid-transfer.
 */
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MqttConnection } from "../../mqtt/index.js";
import { Topics, decodeTopicMessage, encodeTopicMessage, sha256Digest, type ArtifactChunkReply } from "../../protocol/index.js";
import { startPrivateMosquitto, type PrivateMosquitto } from "../../testing/mosquitto.js";
import { waitFor } from "../../testing/net.js";
import { example, logger, startDeliveryStack, uniqueWasm, type DeliveryStack } from "./delivery-helpers.js";
import { E2E_ADMIN_KEY } from "./helpers.js";

const MiB = 1024 * 1024;
let mosquitto: PrivateMosquitto;
let stack: DeliveryStack;
let workDir: string;
let hello: Buffer;

beforeAll(async () => {
  mosquitto = await startPrivateMosquitto();
  workDir = await mkdtemp(join(tmpdir(), "propeller-delivery-p1-"));
  stack = await startDeliveryStack({
    mqttUrl: mosquitto.url,
    proplets: [
      // A small window keeps the 20 MB transfer long enough to cut the broker in the middle of it.
      { id: "p1", workDir, mqttArtifacts: { window: 2, chunkTimeoutMs: 1000 } },
      { id: "p2" },
    ],
  });
  hello = await example("hello/hello.wasm");
}, 120_000);

afterAll(async () => {
  await stack?.close();
  await mosquitto?.dispose();
  await rm(workDir, { recursive: true, force: true });
});

async function upload(bytes: Buffer, digest = sha256Digest(bytes)): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${stack.manager.url}/artifacts/${digest}`, { method: "PUT", headers: { "content-type": "application/wasm", authorization: `Bearer ${E2E_ADMIN_KEY}` }, body: bytes });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("chunked MQTT delivery through manager and proplet", () => {
  it("uploads: stored in chunks, digest checked (a wrong one stores nothing), idempotent", async () => {
    const bytes = uniqueWasm(hello, "upload", 600 * 1024);
    const wrong = await upload(bytes, sha256Digest("other"));
    expect(wrong.status).toBe(400);
    expect(wrong.body.code).toBe("digest_mismatch");
    await expect(stack.client.createTask({ name: "x", artifact: { digest: sha256Digest("other"), delivery: "mqtt" } })).rejects.toMatchObject({ status: 400, code: "artifact_not_stored" });
    const asJson = await fetch(`${stack.manager.url}/artifacts/${sha256Digest(bytes)}`, { method: "PUT", headers: { "content-type": "application/json", authorization: `Bearer ${E2E_ADMIN_KEY}` }, body: "{}" });
    expect(asJson.status).toBe(415);
    const empty = await fetch(`${stack.manager.url}/artifacts/${sha256Digest(bytes)}`, { method: "PUT", headers: { "content-type": "application/wasm", authorization: `Bearer ${E2E_ADMIN_KEY}` }, body: new Uint8Array() });
    expect(empty.status).toBe(400);
    expect(((await empty.json()) as { code: string }).code).toBe("empty_artifact");
    const first = await upload(bytes);
    expect(first).toMatchObject({ status: 201, body: { digest: sha256Digest(bytes), size: bytes.byteLength, created: true } });
    expect((await upload(bytes)).status).toBe(200);
    const task = await stack.client.createTask({ name: "small", artifact: { digest: sha256Digest(bytes), delivery: "mqtt" }, args: ["small"], start: true });
    expect(task.artifact).toMatchObject({ location: "mqtt", size: bytes.byteLength });
    const done = await stack.client.waitForFinish(task.id, 60_000);
    expect(done.state).toBe("completed");
    expect(done.latestRun!.result!.stdout).toContain("small");
  }, 120_000);

  it("a 20 MB artifact survives a broker restart in the middle of its delivery", async () => {
    const big = uniqueWasm(hello, "twenty", 20 * MiB);
    expect((await upload(big)).status).toBe(201);
    const task = await stack.client.createTask({ name: "big", artifact: { digest: sha256Digest(big), delivery: "mqtt" }, target: "p1", args: ["chunked"], start: true });
    const partial = await waitFor(
      async () => {
        const files = await readdir(join(workDir, "artifacts")).catch(() => [] as string[]);
        const part = files.find((f) => f.startsWith(sha256Digest(big).slice(7)));
        if (!part) return null;
        const size = (await stat(join(workDir, "artifacts", part)).catch(() => null))?.size ?? 0;
        return size >= 2 * MiB ? part : null;
      },
      60_000,
      "the first 2 MB to arrive",
    );
    await mosquitto.stop();
    // Cut in the middle: the download is still under way.
    expect(await readdir(join(workDir, "artifacts"))).toContain(partial);
    await new Promise((r) => setTimeout(r, 500));
    await mosquitto.start();
    const done = await stack.client.waitForFinish(task.id, 120_000);
    expect(done.state).toBe("completed");
    expect(done.latestRun!.result!.stdout).toContain("chunked");
    expect(done.latestRun!.receiptCheck!.ok).toBe(true);
    expect(await readdir(join(workDir, "artifacts"))).toEqual([]);
  }, 180_000);

  it("two tasks needing the same artifact at once both run it", async () => {
    const bytes = uniqueWasm(hello, "shared", 3 * MiB);
    await upload(bytes);
    const [a, b] = await Promise.all(
      ["one", "two"].map((arg) => stack.client.createTask({ name: arg, artifact: { digest: sha256Digest(bytes), delivery: "mqtt" }, target: "p1", args: [arg], start: true })),
    );
    const [da, db] = await Promise.all([stack.client.waitForFinish(a!.id, 60_000), stack.client.waitForFinish(b!.id, 60_000)]);
    expect(da.latestRun!.result!.stdout).toContain("one");
    expect(db.latestRun!.result!.stdout).toContain("two");
  }, 120_000);

  it("a proplet asking for another proplet's artifact is refused; the owner is served", async () => {
    const primes = await example("primes/primes.wasm");
    const digest = sha256Digest(primes);
    const task = await stack.client.createTask({
      name: "owned-by-p1",
      artifact: { digest, inline: primes.toString("base64"), delivery: "mqtt" },
      target: "p1",
      args: ["30000000"],
      start: true,
    });
    await waitFor(async () => (await stack.client.getTask(task.id)).state === "running", 30_000, "running");

    const topics = new Topics(stack.topicRoot);
    const spy = await MqttConnection.connect({ url: stack.mqttUrl, clientId: `spy-${Date.now()}`, logger });
    try {
      const replies: Array<{ to: string; reply: ArtifactChunkReply }> = [];
      for (const id of ["p1", "p2"]) {
        await spy.subscribe(topics.proplet(id, "artifacts/chunk"), (_t, payload) => {
          replies.push({ to: id, reply: decodeTopicMessage("artifacts/chunk", payload) });
        });
      }
      const ask = (id: string) => spy.publish(topics.proplet(id, "artifacts/request"), encodeTopicMessage("artifacts/request", { kind: "artifact.request", propletId: id, digest, indices: [0] }));

      await ask("p2");
      const refused = await waitFor(() => replies.find((r) => r.to === "p2"), 10_000, "an answer to p2");
      expect(refused.reply).toMatchObject({ kind: "artifact.refused", code: "not_assigned", digest });
      expect(replies.some((r) => r.to === "p2" && r.reply.kind === "artifact.chunk")).toBe(false);

      await ask("p1");
      const served = await waitFor(() => replies.find((r) => r.to === "p1" && r.reply.kind === "artifact.chunk"), 10_000, "a chunk for p1");
      expect(served.reply).toMatchObject({ kind: "artifact.chunk", index: 0, digest });
    } finally {
      await spy.close();
      await stack.client.stopTask(task.id).catch(() => undefined);
    }
  }, 120_000);
});
