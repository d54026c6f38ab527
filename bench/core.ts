/**
 * Core throughput: tasks/second end to end (submit → result) for a trivial Wasm workload with 1 and
 * 4 proplets, p50/p99 latency, and — in the same run, through the same broker — the raw MQTT
 * round-trip latency as the floor to compare with.
 *
 * Each proplet count runs twice in one process: with no spare workers (every run starts its worker
 * thread: the default and the baseline) and with 2 spares per proplet (started ahead of their runs).
 *
 * With `--mqtt` and `--postgres` the whole path runs on an outside broker and PostgreSQL (each
 * stack on a fresh database of its own, dropped after).
 *
 *   npm run bench -- core [--tasks N] [--concurrency C] [--mqtt URL] [--postgres ADMIN_URL]
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import pino from "pino";
import { startStack } from "../cli/stack.js";
import { ManagerClient } from "../cli/manager-client.js";
import { MqttConnection } from "../mqtt/index.js";
import { sha256Digest } from "../protocol/index.js";
import { REPO_ROOT } from "../testing/paths.js";
import { uniqueTopicRoot } from "../testing/net.js";
import { TEST_PG_ADMIN_URL, createTestDatabase } from "../testing/postgres.js";
import { fmt, percentile } from "./stats.js";

export async function mqttRoundTrip(url: string, samples: number): Promise<number[]> {
  const root = uniqueTopicRoot();
  const a = await MqttConnection.connect({ url, clientId: `bench-a-${process.pid}` });
  const b = await MqttConnection.connect({ url, clientId: `bench-b-${process.pid}` });
  // b echoes every ping back: one round trip = publish → broker → b → broker → a (QoS 1 both ways).
  await b.subscribe(`${root}/ping`, (_t, payload) => b.publish(`${root}/pong`, payload));
  const waiting = new Map<string, () => void>();
  await a.subscribe(`${root}/pong`, (_t, payload) => waiting.get(payload.toString())?.());
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const id = String(i);
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      waiting.set(id, resolve);
      void a.publish(`${root}/ping`, Buffer.from(id));
    });
    times.push(performance.now() - t0);
    waiting.delete(id);
  }
  await a.close();
  await b.close();
  return times;
}

async function throughput(proplets: number, tasks: number, concurrency: number, mqttUrl: string | undefined, postgresAdminUrl: string | undefined, spareWorkers: number | undefined) {
  const logger = pino({ level: "error" });
  const database = postgresAdminUrl ? await createTestDatabase("propeller_bench", postgresAdminUrl) : null;
  const stack = await startStack({
    proplets,
    logger,
    ...(mqttUrl ? { mqttUrl, topicRoot: uniqueTopicRoot() } : {}),
    ...(database ? { databaseUrl: database.url } : {}),
    ...(spareWorkers !== undefined ? { propletSpareWorkers: spareWorkers } : {}),
  });
  try {
    const client = new ManagerClient({ baseUrl: stack.managerUrl, token: stack.managerToken });
    const wasm = await readFile(join(REPO_ROOT, "examples", "add", "add.wasm"));
    const artifact = { digest: sha256Digest(wasm), inline: wasm.toString("base64") };
    // Wait for every proplet to be live so the first tasks do not measure the announce.
    for (let i = 0; i < 200; i++) {
      const { items } = await client.proplets();
      if (items.filter((p) => p.alive).length >= proplets) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const one = async (i: number) => {
      const t0 = performance.now();
      const created = await client.createTask({ name: `bench-${i}`, artifact, entrypoint: { kind: "export", name: "add", inputs: [i, 1] }, start: true });
      // Poll every 5 ms: the client's usual backoff (up to 500 ms) would dominate what is measured.
      const task = await client.waitForFinish(created.id, 60_000, undefined, 5);
      if (task.state !== "completed") throw new Error(`bench task ${i} ended ${task.state}`);
      return performance.now() - t0;
    };
    await Promise.all(Array.from({ length: Math.min(4, tasks) }, (_, i) => one(-1 - i))); // warm up
    // One task at a time: what a single task costs end to end when nothing queues.
    const serial: number[] = [];
    for (let i = 0; i < 20; i++) serial.push(await one(-100 - i));
    const latencies: number[] = [];
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < tasks) latencies.push(await one(next++));
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const rtt = await mqttRoundTrip(stack.brokerUrl, 200);
    return {
      tasksPerSecond: tasks / seconds,
      serialP50: percentile(serial, 50),
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      rttP50: percentile(rtt, 50),
      rttP99: percentile(rtt, 99),
    };
  } finally {
    await stack.close();
    await database?.drop();
  }
}

export async function benchCore(args: string[]): Promise<void> {
  const get = (flag: string, fallback: string) => {
    const i = args.indexOf(flag);
    return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
  };
  const tasks = Number(get("--tasks", "200"));
  const concurrency = Number(get("--concurrency", "16"));
  const mqttUrl = args.includes("--mqtt") ? get("--mqtt", "") : undefined;
  const postgres = args.includes("--postgres") ? get("--postgres", TEST_PG_ADMIN_URL) : undefined;
  console.log(`core: ${tasks} tasks (export add(i, 1)), ${concurrency} submitters, broker ${mqttUrl ?? "embedded aedes"}, database ${postgres ? "PostgreSQL" : "embedded PGlite"}`);
  console.log("proplets | spare workers | tasks/s | one task alone p50 ms | latency p50 ms | p99 ms | MQTT RTT p50 ms | p99 ms | alone p50 / RTT p50");
  for (const proplets of [1, 4]) {
    const base = await throughput(proplets, tasks, concurrency, mqttUrl, postgres, 0);
    const spared = await throughput(proplets, tasks, concurrency, mqttUrl, postgres, 2);
    for (const [label, r] of [["none", base], ["2", spared]] as const) {
      console.log(
        `${String(proplets).padStart(8)} | ${label.padStart(13)} | ${fmt(r.tasksPerSecond).padStart(7)} | ${fmt(r.serialP50).padStart(21)} | ${fmt(r.p50).padStart(14)} | ${fmt(r.p99).padStart(6)} | ${fmt(r.rttP50, 2).padStart(15)} | ${fmt(r.rttP99, 2).padStart(6)} | ${fmt(r.serialP50 / r.rttP50).padStart(5)}x`,
      );
    }
    console.log(
      `${String(proplets).padStart(8)} | spares vs none: ${fmt(spared.tasksPerSecond / base.tasksPerSecond, 2)}x tasks/s, one task alone ${fmt(spared.serialP50 / base.serialP50, 2)}x the time`,
    );
  }
}
