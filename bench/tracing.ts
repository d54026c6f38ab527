/**
 * Observability overhead: end-to-end task latency and throughput with tracing OFF (the
 * default: the SDK is not even loaded), tracing ON at 100% sampling (OTLP/HTTP JSON exporter to a
 * local receiver in the parent process, standing in for a collector), and Prometheus METRICS
 * scraped (proplet /metrics servers on, the manager's and every proplet's /metrics scraped every
 * second). Each mode runs in its own child process (tracing is process-wide and cannot be unloaded),
 * rounds alternate off/on/metrics so drift on a shared machine hits every mode alike; the figures
 * are the medians over the rounds, and the ratios are against OFF measured in the same run.
 *
 *   npm run bench -- tracing [--tasks N] [--concurrency C] [--serial N] [--rounds R] [--proplets P] [--database URL]
 */
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { REPO_ROOT } from "../testing/paths.js";
import { startOtlpReceiver } from "../testing/otlp.js";
import { fmt, percentile } from "./stats.js";

type Mode = "off" | "tracing" | "metrics";
const MODES: Mode[] = ["off", "tracing", "metrics"];

interface Figures {
  tasksPerSecond: number;
  p50: number;
  p99: number;
  serialP50: number;
  serialP99: number;
  /** CPU time (user + system) of the whole stack process per task, over the concurrent phase: less sensitive than wall time to other load on a shared machine. */
  cpuMsPerTask: number;
  tasks: number;
}

const OPTIONS = {
  tasks: { type: "string" },
  concurrency: { type: "string" },
  serial: { type: "string" },
  rounds: { type: "string" },
  proplets: { type: "string" },
  database: { type: "string" },
  child: { type: "string" },
} as const;

export async function benchTracing(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: OPTIONS, strict: true });
  const tasks = Number(values.tasks ?? 300);
  const concurrency = Number(values.concurrency ?? 8);
  const serial = Number(values.serial ?? 60);
  const proplets = Number(values.proplets ?? 2);
  if (values.child) {
    const figures = await child(values.child as Mode, { tasks, concurrency, serial, proplets, ...(values.database ? { database: values.database } : {}) });
    process.stdout.write(`BENCH_RESULT ${JSON.stringify(figures)}\n`);
    return;
  }
  const rounds = Number(values.rounds ?? 3);
  const receiver = await startOtlpReceiver({ keep: false });
  const results: Record<Mode, Figures[]> = { off: [], tracing: [], metrics: [] };
  let tracedTasks = 0;
  try {
    console.log(`observability overhead: ${tasks} tasks at concurrency ${concurrency} + ${serial} serial, ${proplets} proplets, ${rounds} rounds (modes alternate), ${values.database ? "PostgreSQL" : "embedded PGlite"}`);
    for (let round = 1; round <= rounds; round++) {
      for (const mode of MODES) {
        const figures = await runChild(mode, args, receiver.url);
        results[mode].push(figures);
        if (mode === "tracing") tracedTasks += figures.tasks;
        console.log(`  round ${round} ${mode.padEnd(7)} ${fmt(figures.tasksPerSecond)} tasks/s, p50 ${fmt(figures.p50)} ms, p99 ${fmt(figures.p99)} ms; serial p50 ${fmt(figures.serialP50)} ms; CPU ${fmt(figures.cpuMsPerTask, 2)} ms/task`);
      }
    }
  } finally {
    await receiver.close();
  }
  const median = (xs: number[]) => percentile(xs, 50);
  const m = (mode: Mode, key: keyof Figures) => median(results[mode].map((f) => f[key]));
  const pct = (on: number, off: number, higherIsBetter: boolean) => {
    const overhead = higherIsBetter ? (off / on - 1) * 100 : (on / off - 1) * 100;
    return `${overhead >= 0 ? "+" : ""}${fmt(overhead)}%`;
  };
  console.log("\nmedians over the rounds:");
  console.log("  mode      tasks/s   p50 ms   p99 ms   serial p50 ms   serial p99 ms   CPU ms/task");
  for (const mode of MODES) {
    console.log(
      `  ${mode.padEnd(8)} ${fmt(m(mode, "tasksPerSecond")).padStart(8)} ${fmt(m(mode, "p50")).padStart(8)} ${fmt(m(mode, "p99")).padStart(8)} ` +
        `${fmt(m(mode, "serialP50")).padStart(15)} ${fmt(m(mode, "serialP99")).padStart(15)} ${fmt(m(mode, "cpuMsPerTask"), 2).padStart(13)}`,
    );
  }
  for (const mode of ["tracing", "metrics"] as const) {
    console.log(
      `  overhead of ${mode} vs off: throughput ${pct(m(mode, "tasksPerSecond"), m("off", "tasksPerSecond"), true)}, ` +
        `p50 ${pct(m(mode, "p50"), m("off", "p50"), false)}, serial p50 ${pct(m(mode, "serialP50"), m("off", "serialP50"), false)}, ` +
        `CPU per task ${pct(m(mode, "cpuMsPerTask"), m("off", "cpuMsPerTask"), false)} (goal <= 5%)`,
    );
  }
  console.log(`  spans exported with tracing on: ${receiver.counts.spans} (${fmt(receiver.counts.spans / Math.max(1, tracedTasks))} per task), ${fmt(receiver.counts.bytes / 1024 / 1024)} MiB of OTLP JSON`);
}

/** Runs one mode in a fresh process (compiled bench: dist/bench/run.js) and reads its figures. */
async function runChild(mode: Mode, args: string[], otlpUrl: string): Promise<Figures> {
  const runJs = join(fileURLToPath(new URL(".", import.meta.url)), "run.js");
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith("OTEL_")) delete env[key];
  if (mode === "tracing") {
    Object.assign(env, {
      OTEL_TRACES_EXPORTER: "otlp",
      OTEL_EXPORTER_OTLP_ENDPOINT: otlpUrl,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_TRACES_SAMPLER: "always_on",
      OTEL_METRICS_EXPORTER: "none",
      OTEL_LOGS_EXPORTER: "none",
    });
  }
  const own = args.filter((_, i, all) => all[i] !== "--child" && all[i - 1] !== "--child");
  const proc = spawn(process.execPath, [runJs, "tracing", ...own, "--child", mode], { env, stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  proc.stdout.on("data", (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => proc.on("close", resolve));
  const line = out.split("\n").find((l) => l.startsWith("BENCH_RESULT "));
  if (code !== 0 || !line) throw new Error(`bench child (${mode}) exited ${code}: ${out.slice(-2000)}`);
  return JSON.parse(line.slice("BENCH_RESULT ".length)) as Figures;
}

/** One mode, in this process: tracing as the environment says (started before the stack loads), then the workload. */
async function child(mode: Mode, o: { tasks: number; concurrency: number; serial: number; proplets: number; database?: string }): Promise<Figures> {
  const { startTracing } = await import("../lib/tracing/index.js");
  const tracing = await startTracing({ serviceName: "propeller" });
  if ((mode === "tracing") !== tracing.enabled) throw new Error(`mode ${mode}, but tracing is ${tracing.enabled ? "on" : "off"}`);
  const [{ startStack }, { ManagerClient }, { sha256Digest }, pino] = await Promise.all([
    import("../cli/stack.js"),
    import("../cli/manager-client.js"),
    import("../protocol/index.js"),
    import("pino"),
  ]);
  const logger = pino.default({ level: "error" });
  const stack = await startStack({ proplets: o.proplets, logger, ...(o.database ? { databaseUrl: o.database } : {}), ...(mode === "metrics" ? { propletMetrics: {} } : {}) });
  let scraper: NodeJS.Timeout | undefined;
  try {
    const client = new ManagerClient({ baseUrl: stack.managerUrl, token: stack.managerToken });
    if (mode === "metrics") {
      // Prometheus at a 1 s interval (15 s is its default): every /metrics of the stack.
      const targets = [`${stack.managerUrl}/metrics`, ...stack.proplets.map((p) => `${p.metricsUrl}`)];
      const scrape = () => {
        for (const url of targets) void fetch(url, { headers: { authorization: `Bearer ${stack.managerToken}` } }).then((r) => r.text()).catch(() => undefined);
      };
      scraper = setInterval(scrape, 1000);
    }
    const wasm = await readFile(join(REPO_ROOT, "examples", "add", "add.wasm"));
    const artifact = { digest: sha256Digest(wasm), inline: wasm.toString("base64") };
    for (let i = 0; i < 200; i++) {
      const { items } = await client.proplets();
      if (items.filter((p) => p.alive).length >= o.proplets) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const one = async (i: number) => {
      const t0 = performance.now();
      // One request per task: created, started, and answered when it settled (POST /tasks?wait=),
      // so what is measured is the run's path, not a client's polling.
      const response = await fetch(`${stack.managerUrl}/tasks?wait=60000`, {
        method: "POST",
        headers: { authorization: `Bearer ${stack.managerToken}`, "content-type": "application/json" },
        body: JSON.stringify({ name: `bench-${i}`, artifact, entrypoint: { kind: "export", name: "add", inputs: [i, 1] }, start: true }),
      });
      const task = (await response.json()) as { state?: string };
      if (task.state !== "completed") throw new Error(`bench task ${i} ended ${task.state ?? response.status}`);
      return performance.now() - t0;
    };
    await Promise.all(Array.from({ length: 8 }, (_, i) => one(-1 - i))); // warm up (JIT, caches, pools)
    const serialTimes: number[] = [];
    for (let i = 0; i < o.serial; i++) serialTimes.push(await one(100_000 + i));
    const latencies: number[] = [];
    let next = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: o.concurrency }, async () => {
        while (next < o.tasks) latencies.push(await one(next++));
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    return {
      cpuMsPerTask: (cpu.user + cpu.system) / 1000 / o.tasks,
      tasksPerSecond: o.tasks / seconds,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      serialP50: percentile(serialTimes, 50),
      serialP99: percentile(serialTimes, 99),
      tasks: o.tasks + o.serial + 8,
    };
  } finally {
    if (scraper) clearInterval(scraper);
    await stack.close();
    await tracing.shutdown();
  }
}
