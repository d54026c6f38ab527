/**
 * Artifact delivery: MB/s for 1, 10 and 50 MB modules delivered to a real proplet over HTTP, from a
 * real OCI registry (Debian's docker-registry) and in chunks over MQTT (real manager on PostgreSQL,
 * real Mosquitto), with — in the same run — a raw loopback HTTP download of the same bytes as the
 * floor. Cold vs warm start: the same OCI task run twice (pull, then the proplet's cache).
 *
 * Each figure is a whole task run (REST create → result) and, inside it, the proplet's own time in
 * fetchArtifact (fetch + size bound + digest check, from its "artifact fetched" log line): MB/s is
 * bytes / that time. The module is hello.wasm padded with a custom section, so compile and run
 * cost stay small and the difference between paths is delivery.
 *
 *   npm run bench -- delivery [--reps N] [--sizes 1,10,50] [--mqtt URL]
 */
import { createServer, type Server } from "node:http";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Writable } from "node:stream";
import pino from "pino";
import { generateApiKey, startManager } from "../manager/index.js";
import { startProplet } from "../proplet/index.js";
import { ManagerClient } from "../cli/manager-client.js";
import { pushWasm } from "../oci/index.js";
import { sha256Digest } from "../protocol/index.js";
import { createTestDatabase } from "../testing/postgres.js";
import { TEST_MQTT_URL } from "../testing/mosquitto.js";
import { startRegistry } from "../testing/registry.js";
import { freePort, uniqueTopicRoot } from "../testing/net.js";
import { REPO_ROOT } from "../testing/paths.js";
import { fmt, percentile } from "./stats.js";

const MB = 1024 * 1024;

interface Fetched {
  runId: string;
  source: string;
  bytes: number;
  ms: number;
}

/** A valid module of `total` bytes with its own digest: hello.wasm plus a padded custom section. */
function paddedWasm(base: Buffer, total: number, label: string): Buffer {
  const name = Buffer.from(`bench-${label}`);
  const fixed = base.byteLength + 1 + 5 + 1 + name.byteLength;
  const payload = Buffer.alloc(Math.max(16, total - fixed));
  for (let i = 0; i < payload.byteLength; i += 4096) payload[i] = (i * 2654435761) >>> 24; // not all zeros
  payload.write(`${label}-${process.hrtime.bigint()}`);
  const body = Buffer.concat([Buffer.from([name.byteLength]), name, payload]);
  const size = Buffer.alloc(5);
  let n = body.byteLength;
  for (let i = 0; i < 5; i++) {
    size[i] = (n & 0x7f) | (i < 4 ? 0x80 : 0);
    n >>>= 7;
  }
  return Buffer.concat([base, Buffer.from([0]), size, body]);
}

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

export async function benchDelivery(args: string[]): Promise<void> {
  const reps = Number(option(args, "--reps") ?? 3);
  const sizes = (option(args, "--sizes") ?? "1,10,50").split(",").map(Number);
  const mqttUrl = option(args, "--mqtt") ?? TEST_MQTT_URL;
  const quiet = pino({ level: "error" });
  const fetched: Fetched[] = [];
  // The proplet's debug log carries one "artifact fetched" line per run: that is the delivery time.
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split("\n")) {
        if (!line.includes("artifact fetched")) continue;
        const e = JSON.parse(line) as Fetched;
        fetched.push({ runId: e.runId, source: e.source, bytes: e.bytes, ms: e.ms });
      }
      done();
    },
  });
  const propletLog = pino({ level: "debug" }, sink);

  const cleanups: Array<() => Promise<unknown>> = [];
  try {
    const registry = await startRegistry();
    cleanups.push(() => registry.dispose());
    const db = await createTestDatabase("propeller_bench");
    cleanups.push(() => db.drop());
    const topicRoot = uniqueTopicRoot();
    const token = generateApiKey().key;
    const manager = await startManager({ databaseUrl: db.url, mqtt: { url: mqttUrl }, topicRoot, http: { port: 0 }, logger: quiet, auth: { bootstrapKeys: [{ name: "bench", key: token, scopes: ["admin"] }] }, delivery: { oci: { insecureRegistries: [registry.host] } } });
    cleanups.push(() => manager.close());
    const proplet = await startProplet({ id: "bench", mqtt: { url: mqttUrl }, topicRoot, logger: propletLog, maxConcurrency: 1, oci: { insecureRegistries: [registry.host] } });
    cleanups.push(() => proplet.close());
    const blobs = new Map<string, Buffer>();
    const server: Server = createServer((req, res) => {
      const blob = blobs.get(req.url ?? "");
      if (!blob) return res.writeHead(404).end();
      res.writeHead(200, { "content-type": "application/wasm", "content-length": String(blob.byteLength) }).end(blob);
    });
    const port = await freePort();
    await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
    cleanups.push(() => new Promise((r) => server.close(r)));

    const client = new ManagerClient({ baseUrl: manager.url, token, timeoutMs: 120_000 });
    for (let i = 0; i < 200 && !(await client.proplets()).items.some((p) => p.alive); i++) await new Promise((r) => setTimeout(r, 50));
    const hello = await readFile(join(REPO_ROOT, "examples", "hello", "hello.wasm"));

    /** One task to the end: e2e ms, and the proplet's fetch of its artifact. */
    const runTask = async (artifact: Record<string, unknown>, taskId?: string): Promise<{ e2e: number; fetch: Fetched; taskId: string }> => {
      const t0 = performance.now();
      const id = taskId ?? (await client.createTask({ name: "bench", artifact, args: ["bench"], start: true })).id;
      if (taskId) await client.startTask(taskId);
      const task = await client.waitForFinish(id, 300_000, undefined, 5);
      const e2e = performance.now() - t0;
      if (task.state !== "completed") throw new Error(`bench task ended ${task.state}: ${JSON.stringify(task.latestRun?.result?.error)}`);
      const fetch = fetched.find((f) => f.runId === task.latestRun!.id);
      if (!fetch) throw new Error("the proplet logged no artifact fetch for the run");
      return { e2e, fetch, taskId: id };
    };

    // Floor of the chunked path: 200 messages of one chunk's size on the wire (256 KiB as base64
    // JSON ≈ 350 KB), QoS 1, 16 in flight, publisher and subscriber in this process like the stack.
    const mqttFloor = await (async () => {
      const { MqttConnection } = await import("../mqtt/index.js");
      const a = await MqttConnection.connect({ url: mqttUrl, clientId: `bench-floor-a-${process.pid}` });
      const b = await MqttConnection.connect({ url: mqttUrl, clientId: `bench-floor-b-${process.pid}` });
      try {
        const topic = `${uniqueTopicRoot()}/floor`;
        let got = 0;
        let done!: () => void;
        const all = new Promise<void>((r) => (done = r));
        await b.subscribe(topic, () => {
          if (++got === 200) done();
        });
        const payload = Buffer.alloc(Math.ceil((256 * 1024) / 3) * 4 + 400, 65);
        let sent = 0;
        const t0 = performance.now();
        await Promise.all(Array.from({ length: 16 }, async () => {
          while (sent < 200) {
            sent++;
            await a.publish(topic, payload);
          }
        }));
        await all;
        return (200 * 0.25) / ((performance.now() - t0) / 1000);
      } finally {
        await a.close();
        await b.close();
      }
    })();

    const baseline: number[] = [];
    for (let i = 0; i < 5; i++) baseline.push((await runTask({ digest: sha256Digest(hello), inline: hello.toString("base64") })).e2e);

    type Row = { path: string; size: number; mbps: number[]; e2e: number[] };
    const rows: Row[] = [];
    const row = (path: string, size: number): Row => {
      const r = { path, size, mbps: [], e2e: [] };
      rows.push(r);
      return r;
    };
    const record = (r: Row, res: { e2e: number; fetch: Fetched }) => {
      r.mbps.push(res.fetch.bytes / MB / (res.fetch.ms / 1000));
      r.e2e.push(res.e2e);
    };

    for (const sizeMb of sizes) {
      const floor = row("raw loopback HTTP (floor)", sizeMb);
      const http = row("HTTP", sizeMb);
      const ociCold = row("OCI cold (pull)", sizeMb);
      const ociWarm = row("OCI warm (cache)", sizeMb);
      const mqtt = row("MQTT chunked", sizeMb);
      for (let rep = 0; rep < reps; rep++) {
        const bytes = paddedWasm(hello, sizeMb * MB, `${sizeMb}-${rep}`);
        const digest = sha256Digest(bytes);
        const path = `/${digest.slice(7)}.wasm`;
        blobs.set(path, bytes);

        const t0 = performance.now();
        const res = await fetch(`http://127.0.0.1:${port}${path}`);
        const got = Buffer.from(await res.arrayBuffer());
        const ms = performance.now() - t0;
        if (got.byteLength !== bytes.byteLength) throw new Error("floor download was short");
        floor.mbps.push(got.byteLength / MB / (ms / 1000));
        floor.e2e.push(ms);

        record(http, await runTask({ digest, url: `http://127.0.0.1:${port}${path}` }));

        await pushWasm(`${registry.host}/bench/m${sizeMb}:r${rep}`, bytes, { insecureRegistries: [registry.host] });
        const cold = await runTask({ oci: `${registry.host}/bench/m${sizeMb}:r${rep}` });
        record(ociCold, cold);
        record(ociWarm, await runTask({}, cold.taskId));

        const up = await fetch(`${manager.url}/artifacts/${digest}`, { method: "PUT", headers: { "content-type": "application/wasm", authorization: `Bearer ${token}` }, body: bytes });
        if (up.status !== 201 && up.status !== 200) throw new Error(`upload failed: ${up.status} ${await up.text()}`);
        record(mqtt, await runTask({ digest, delivery: "mqtt" }));
        blobs.delete(path);
      }
    }

    console.log(`\nartifact delivery — ${reps} run(s) per figure, medians; one proplet; broker ${mqttUrl}; PostgreSQL; docker-registry`);
    console.log(`baseline: a tiny inline task end to end p50 ${fmt(percentile(baseline, 50))} ms`);
    console.log(`floor of the chunked path: raw MQTT, one chunk's worth per message (16 in flight): ${fmt(mqttFloor, 0)} MB/s of chunk payload`);
    console.log("| path | size | delivery MB/s (proplet's fetch) | task end to end ms |");
    console.log("|---|---:|---:|---:|");
    for (const r of rows) {
      const e2e = r.path.startsWith("raw") ? "—" : fmt(percentile(r.e2e, 50), 0);
      console.log(`| ${r.path} | ${r.size} MB | ${fmt(percentile(r.mbps, 50), 0)} | ${e2e} |`);
    }
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  }
}
