/**
 * Scheduler benchmark: the real manager on a real broker and database.
 *   1. throughput: 10 000 tasks queued while no proplet is live, then 10 simulated proplets (MQTT
 *      clients that accept and answer every task.start at once, with a signed receipt) connect;
 *      tasks dispatched and finished per second until the queue is empty;
 *   2. dispatch latency p50/p99: with idle proplets, submit → task.start arriving at a proplet;
 *   3. invocation latency p50/p99 on a warm instance (a real proplet, export add), sequential;
 *   4. the raw MQTT round trip through the same broker: the floor.
 *
 *   npm run bench -- scheduling [--tasks N] [--proplets P] [--embedded | --mqtt URL]
 * Default backing: a private Mosquitto with the production settings (set_tcp_nodelay: without it
 * every small message waits ~40 ms on delayed ACKs) and PostgreSQL (a fresh database).
 */
import { generateKeyPairSync } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import pino from "pino";
import { startStack } from "../cli/stack.js";
import { generateApiKey, startManager } from "../manager/index.js";
import { MqttConnection, startEmbeddedBroker } from "../mqtt/index.js";
import {
  Topics,
  buildReceiptClaims,
  decodeTopicMessage,
  encodeTopicMessage,
  receiptSigner,
  sha256Digest,
  signReceipt,
  type ReceiptSigner,
  type TaskStart,
} from "../protocol/index.js";
import { createTestDatabase } from "../testing/postgres.js";
import { TEST_MQTT_URL, startPrivateMosquitto } from "../testing/mosquitto.js";
import { uniqueTopicRoot } from "../testing/net.js";
import { REPO_ROOT } from "../testing/paths.js";
import { mqttRoundTrip } from "./core.js";
import { fmt, percentile } from "./stats.js";

/** A proplet reduced to its protocol: accepts and answers every start at once. */
class SimProplet {
  readonly received = new Map<string, number>();
  private beat: NodeJS.Timeout | undefined;
  private constructor(
    readonly id: string,
    private readonly conn: MqttConnection,
    private readonly topics: Topics,
    private readonly signer: ReceiptSigner,
  ) {}

  static async connect(url: string, root: string, id: string, maxConcurrency: number): Promise<SimProplet> {
    const topics = new Topics(root);
    const conn = await MqttConnection.connect({ url, clientId: `sim-${id}-${process.pid}` });
    const pair = generateKeyPairSync("ed25519");
    const p = new SimProplet(id, conn, topics, await receiptSigner(pair.privateKey, pair.publicKey));
    await conn.subscribe(topics.proplet(id, "tasks/start"), (_t, payload) => p.onStart(decodeTopicMessage("tasks/start", payload)));
    await conn.subscribe(topics.managerOnline, () => p.announce(maxConcurrency));
    await p.announce(maxConcurrency);
    p.beat = setInterval(() => {
      void p.send("heartbeat", { kind: "proplet.heartbeat", propletId: id, running: [], load: { running: 0, maxConcurrency }, intervalMs: 1000 }).catch(() => undefined);
    }, 1000);
    return p;
  }

  async announce(maxConcurrency: number): Promise<void> {
    await this.send("announce", {
      kind: "proplet.announce",
      propletId: this.id,
      name: this.id,
      software: { name: "bench-sim", version: "0" },
      capabilities: { runtimes: ["wasi-p1"], artifactSources: ["inline"], memoryBytes: 2 ** 40, maxConcurrency, tee: null, tags: [] },
      running: [],
      identityKey: this.signer.publicJwk,
    });
  }

  private async onStart(s: TaskStart): Promise<void> {
    if (this.received.has(s.runId)) return;
    this.received.set(s.runId, performance.now());
    await this.send("tasks/accepted", { kind: "task.accepted", propletId: this.id, taskId: s.taskId, runId: s.runId });
    const now = new Date().toISOString();
    const body = { outcome: "completed" as const, exitCode: 0, returnValues: null, stdout: "", stderr: "", stdoutTruncated: false, stderrTruncated: false, error: null, startedAt: now, finishedAt: now };
    const receipt = await signReceipt(buildReceiptClaims({ ...s, propletId: this.id }, body, { plaintextDigest: s.artifact.digest }), this.signer);
    await this.send("tasks/result", { kind: "task.result", propletId: this.id, taskId: s.taskId, runId: s.runId, ...body, receipt });
  }

  private async send<N extends Parameters<typeof encodeTopicMessage>[0]>(name: N, body: Parameters<typeof encodeTopicMessage<N>>[1]): Promise<void> {
    await this.conn.publish(this.topics.proplet(this.id, name), encodeTopicMessage(name, body));
  }

  async close(): Promise<void> {
    clearInterval(this.beat);
    await this.conn.close();
  }
}

/** The bearer key of each manager this bench started, by its URL. */
const keys = new Map<string, string>();
const auth = (base: string) => ({ authorization: `Bearer ${keys.get(base) ?? ""}` });

async function post<T>(base: string, path: string, body: unknown): Promise<T> {
  const r = await fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json", ...auth(base) }, body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`POST ${path}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}
async function get<T>(base: string, path: string): Promise<T> {
  const r = await fetch(`${base}${path}`, { headers: auth(base) });
  if (!r.ok) throw new Error(`GET ${path}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

async function pool<T>(count: number, concurrency: number, one: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      const i = next++;
      out[i] = await one(i);
    }
  }));
  return out;
}

export async function benchScheduling(args: string[]): Promise<void> {
  const flag = (name: string, fallback: string) => {
    const i = args.indexOf(name);
    return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
  };
  const tasks = Number(flag("--tasks", "10000"));
  const propletCount = Number(flag("--proplets", "10"));
  const embedded = args.includes("--embedded");
  const logger = pino({ level: "error" });

  const broker = embedded ? await startEmbeddedBroker() : null;
  // Default: a Mosquitto of the bench's own, configured as `propeller broker config` configures
  // production (TCP_NODELAY, deep queues); `--mqtt URL` measures another broker as it is.
  const given = args.includes("--mqtt") ? flag("--mqtt", TEST_MQTT_URL) : undefined;
  const mosquitto = embedded || given ? null : await startPrivateMosquitto();
  const mqttUrl = broker ? broker.url : (given ?? mosquitto!.url);
  const db = embedded ? null : await createTestDatabase("bench_sched");
  const databaseUrl = db ? db.url : "pglite://memory";
  const root = uniqueTopicRoot();
  console.log(`scheduling: ${tasks} queued tasks, ${propletCount} simulated proplets; broker ${embedded ? "embedded aedes" : mosquitto ? `private Mosquitto ${mqttUrl} (set_tcp_nodelay)` : mqttUrl}, database ${embedded ? "PGlite" : "PostgreSQL"}`);
  const key = generateApiKey().key;
  const manager = await startManager({ databaseUrl, mqtt: { url: mqttUrl }, topicRoot: root, http: { port: 0 }, ackTimeoutMs: 120_000, logger, auth: { bootstrapKeys: [{ name: "bench", key, scopes: ["admin"] }] } });
  keys.set(manager.url, key);
  const sims: SimProplet[] = [];
  try {
    const wasm = await readFile(join(REPO_ROOT, "examples", "add", "add.wasm"));
    const artifact = { digest: sha256Digest(wasm), inline: wasm.toString("base64") };

    // 1. Queue while nothing is live, then let the proplets drain it.
    const q0 = performance.now();
    await pool(tasks, 32, (i) => post(manager.url, "/tasks", { name: `q-${i}`, artifact, priority: i % 101, start: true }));
    console.log(`  queued ${tasks} tasks in ${fmt((performance.now() - q0) / 1000)} s (REST submissions, ${fmt(tasks / ((performance.now() - q0) / 1000))}/s)`);
    const t0 = performance.now();
    for (let i = 0; i < propletCount; i++) sims.push(await SimProplet.connect(mqttUrl, root, `sim-${i}`, 64));
    let dispatchedAllAt = 0;
    for (;;) {
      const dispatched = sims.reduce((n, s) => n + s.received.size, 0);
      if (dispatched >= tasks && !dispatchedAllAt) dispatchedAllAt = performance.now();
      const done = await get<{ items: unknown[] }>(manager.url, "/tasks?state=pending&limit=1");
      if (dispatchedAllAt && done.items.length === 0) {
        const running = await get<{ items: unknown[] }>(manager.url, "/tasks?state=running&limit=1");
        const scheduled = await get<{ items: unknown[] }>(manager.url, "/tasks?state=scheduled&limit=1");
        if (running.items.length === 0 && scheduled.items.length === 0) break;
      }
      if (performance.now() - t0 > 600_000) throw new Error(`the queue did not drain within 10 minutes (${dispatched} dispatched)`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const drained = (performance.now() - t0) / 1000;
    const dispatchSeconds = (dispatchedAllAt - t0) / 1000;
    console.log(`  throughput: ${fmt(tasks / dispatchSeconds)} tasks dispatched/s (all ${tasks} delivered in ${fmt(dispatchSeconds)} s); ${fmt(tasks / drained)} finished/s (${fmt(drained)} s)`);

    // 2. Dispatch latency with idle proplets: submit → task.start at a proplet.
    const samples = 300;
    const latencies = await pool(samples, 4, async (i) => {
      const began = performance.now();
      const task = await post<{ id: string; latestRun: { id: string } }>(manager.url, "/tasks", { name: `l-${i}`, artifact, start: true });
      const runId = task.latestRun.id;
      for (;;) {
        for (const s of sims) {
          const at = s.received.get(runId);
          if (at !== undefined) return at - began;
        }
        await new Promise((r) => setTimeout(r, 1));
      }
    });
    console.log(`  dispatch latency (submit → task.start at the proplet, ${samples} tasks, 4 submitters): p50 ${fmt(percentile(latencies, 50), 2)} ms, p99 ${fmt(percentile(latencies, 99), 2)} ms`);

    // 4. The floor, same broker.
    const rtt = await mqttRoundTrip(mqttUrl, 300);
    console.log(`  raw MQTT round trip (QoS 1, same broker): p50 ${fmt(percentile(rtt, 50), 2)} ms, p99 ${fmt(percentile(rtt, 99), 2)} ms`);
  } finally {
    for (const s of sims) await s.close().catch(() => undefined);
    await manager.close();
  }

  // 3. Invocations on a warm instance: a real proplet.
  const invDb = embedded ? null : await createTestDatabase("bench_inv");
  const stack = await startStack({ proplets: 1, logger, mqttUrl, databaseUrl: invDb ? invDb.url : "pglite://memory", topicRoot: uniqueTopicRoot() });
  keys.set(stack.managerUrl, stack.managerToken);
  try {
    for (let i = 0; i < 200; i++) {
      const { items } = await get<{ items: Array<{ alive: boolean }> }>(stack.managerUrl, "/proplets");
      if (items.some((p) => p.alive)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const wasm = await readFile(join(REPO_ROOT, "examples", "add", "add.wasm"));
    await post(stack.managerUrl, "/functions", { name: "add", artifact: { digest: sha256Digest(wasm), inline: wasm.toString("base64") }, export: "add", instances: 4 });
    for (let i = 0; i < 20; i++) await post(stack.managerUrl, "/functions/add/invoke", { inputs: [i, 1], deadlineMs: 30_000 }); // warm
    const n = 500;
    const times: number[] = [];
    const proplet: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      const r = await post<{ returnValues: number[]; propletDurationMs: number }>(stack.managerUrl, "/functions/add/invoke", { inputs: [i, 1] });
      times.push(performance.now() - t);
      proplet.push(r.propletDurationMs);
      if (r.returnValues[0] !== i + 1) throw new Error(`add(${i}, 1) returned ${r.returnValues[0]}`);
    }
    const c0 = performance.now();
    await Promise.all(Array.from({ length: 200 }, (_, i) => post(stack.managerUrl, "/functions/add/invoke", { inputs: [i, 2], deadlineMs: 30_000 })));
    const burst = performance.now() - c0;
    console.log(
      `  invocation latency (REST → warm instance → reply, ${n} sequential calls): p50 ${fmt(percentile(times, 50), 2)} ms, p99 ${fmt(percentile(times, 99), 2)} ms; ` +
        `on the proplet p50 ${fmt(percentile(proplet, 50), 3)} ms; 200 concurrent calls in ${fmt(burst)} ms`,
    );
  } finally {
    await stack.close();
    await invDb?.drop();
    await db?.drop();
    await broker?.close();
    await mosquitto?.dispose();
  }
}
