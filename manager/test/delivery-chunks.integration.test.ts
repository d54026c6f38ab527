/**
 * The manager's chunk server against a real database (PGlite): what it answers, to whom, and the
 * per-proplet bound. Its MQTT side is a captured publish (the broker path is covered end to end in
 * test/e2e/delivery-mqtt.test.ts).
 */
import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pino from "pino";
import type { Database } from "../../db/index.js";
import { Topics, decodeTopicMessage, newTraceparent, sha256Digest, type ArtifactChunkReply, type ArtifactRequest } from "../../protocol/index.js";
import { openManagerDatabase } from "../store/open.js";
import * as artifacts from "../store/artifacts.js";
import * as runs from "../store/runs.js";
import * as tasks from "../store/tasks.js";
import { ChunkServer, MAX_REQUESTS_PER_PROPLET } from "../delivery/chunks.js";
import { DELIVERY_CHUNK_BYTES } from "../delivery/location.js";
import type { ManagerContext } from "../context.js";
import type { TaskSpec } from "../tasks/model.js";
import { ManagerMetrics, storeMetricsSource } from "../telemetry/metrics.js";
import { resolveConfig } from "../config.js";
import { ManagerEvents } from "../events.js";
import { secretBox } from "../tasks/secrets.js";

let db: Database;
const topics = new Topics("chunks-test/v1");
const bytes = randomBytes(2 * DELIVERY_CHUNK_BYTES + 77);
const digest = sha256Digest(bytes);

function server(publish: (topic: string, payload: Buffer) => Promise<void>): ChunkServer {
  const ctx: ManagerContext = {
    config: resolveConfig({ databaseUrl: "pglite://memory", mqtt: { url: "mqtt://127.0.0.1:1" } }),
    db,
    log: pino({ level: "silent" }),
    ...((metrics) => ({ metrics, counters: metrics.counters }))(new ManagerMetrics(storeMetricsSource(db))),
    topics,
    publish,
    events: new ManagerEvents(),
    now: () => new Date(),
    endpoints: new Map(),
    secrets: secretBox(randomBytes(32)),
  };
  return new ChunkServer(ctx);
}

const request = (propletId: string, indices: number[], d = digest): ArtifactRequest => ({
  version: 1, messageId: randomUUID(), timestamp: new Date().toISOString(), traceparent: newTraceparent(), kind: "artifact.request", propletId, digest: d, indices,
});

function capture() {
  const sent: Array<{ topic: string; reply: ArtifactChunkReply }> = [];
  return { sent, publish: async (topic: string, payload: Buffer) => void sent.push({ topic, reply: decodeTopicMessage("artifacts/chunk", payload) }) };
}

beforeAll(async () => {
  db = await openManagerDatabase("pglite://memory");
  await artifacts.putArtifact(db, digest, bytes);
  const spec: TaskSpec = {
    runtime: "wasi-p1", artifact: { digest, size: bytes.byteLength, location: "mqtt" }, entrypoint: { kind: "wasi" }, args: [], env: {}, stdin: "",
    limits: { timeoutMs: 1000, memoryBytes: 65536, outputBytes: 1024 }, target: null, requirements: { tags: [], tee: null }, onPropletLoss: "fail",
  };
  const now = new Date();
  await tasks.insertTask(db, { id: "t1", name: "t", spec, now });
  await runs.insertRun(db, { id: "r1", taskId: "t1", attempt: 1, receiptNonce: "n", now });
  await runs.updateRunIf(db, "r1", "queued", { state: "running", propletId: "p1", deliveries: 1, lastDeliveryAt: now });
});
afterAll(async () => db?.close());

describe("chunk server", () => {
  it("serves the asking proplet's chunks on its own topic, each with its sha256", async () => {
    const { sent, publish } = capture();
    await server(publish).onRequest("p1", request("p1", [2, 0, 1]));
    expect(sent.map((s) => s.topic)).toEqual(Array(3).fill(topics.proplet("p1", "artifacts/chunk")));
    const chunks = sent.map((s) => s.reply).filter((r): r is Extract<ArtifactChunkReply, { kind: "artifact.chunk" }> => r.kind === "artifact.chunk");
    expect(chunks.map((c) => c.index)).toEqual([2, 0, 1]);
    for (const c of chunks) {
      const data = Buffer.from(c.data, "base64");
      expect(c.total).toBe(3);
      expect(c.sha256).toBe(sha256Digest(data));
      expect(data.equals(bytes.subarray(c.index * DELIVERY_CHUNK_BYTES, (c.index + 1) * DELIVERY_CHUNK_BYTES))).toBe(true);
    }
  });

  it("refuses another proplet, an unknown artifact and an index past the end — on the asker's topic only", async () => {
    const { sent, publish } = capture();
    const s = server(publish);
    await s.onRequest("p2", request("p2", [0]));
    await s.onRequest("p1", request("p1", [0], sha256Digest("nothing")));
    await s.onRequest("p1", request("p1", [3]));
    expect(sent.map((x) => [x.topic.split("/").at(-3), x.reply.kind, x.reply.kind === "artifact.refused" ? x.reply.code : ""])).toEqual([
      ["p2", "artifact.refused", "not_assigned"],
      ["p1", "artifact.refused", "not_assigned"],
      ["p1", "artifact.refused", "chunk_out_of_range"],
    ]);
    expect(s.stats.chunksSent).toBe(0);
  });

  it("holds at most MAX_REQUESTS_PER_PROPLET requests of one proplet at once; the rest are dropped", async () => {
    const release: Array<() => void> = [];
    let slow = true; // a broker that is slow to acknowledge, then a normal one
    const s = server(() => (slow ? new Promise<void>((r) => release.push(r)) : Promise.resolve()));
    const handling = Array.from({ length: MAX_REQUESTS_PER_PROPLET + 5 }, () => s.onRequest("p1", request("p1", [0])));
    await new Promise((r) => setTimeout(r, 200));
    expect(s.stats.dropped).toBe(5);
    while (release.length < MAX_REQUESTS_PER_PROPLET) await new Promise((r) => setTimeout(r, 10));
    for (const r of release) r();
    await Promise.all(handling);
    expect(s.stats.chunksSent).toBe(MAX_REQUESTS_PER_PROPLET);
    // Once they are done, the proplet is served again.
    slow = false;
    await s.onRequest("p1", request("p1", [1]));
    expect(s.stats.chunksSent).toBe(MAX_REQUESTS_PER_PROPLET + 1);
    expect(s.stats.dropped).toBe(5);
  });
});
