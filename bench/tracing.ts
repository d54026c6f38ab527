/**
 * Observability overhead: end-to-end task latency and throughput with tracing OFF (the default:
 * the SDK is not even loaded), tracing ON at 100% sampling (the OTLP/HTTP exporter, protobuf by
 * default as in the SDK, to a local receiver in the parent process standing in for a collector),
 * and Prometheus METRICS scraped (proplet /metrics servers on, the manager's and every proplet's
 * /metrics scraped every second). Each mode runs in its own child process (tracing is
 * process-wide and cannot be unloaded); the modes are interleaved (each round runs every mode
 * once, every other round in reverse: AB BA AB…), so drift on a shared machine hits every mode alike. Printed: every
 * round, the medians over the rounds with their min–max, and the overhead both as the ratio of
 * the medians and as the median [min, max] of the per-round pairs (each mode against the off run
 * of its own round).
 *
 *   npm run bench -- tracing [--tasks N] [--concurrency C] [--serial N] [--rounds R] [--proplets P]
 *                            [--modes off,tracing,metrics] [--protocol http/protobuf|http/json] [--count-promises] [--database URL] */
import { createHook } from "node:async_hooks";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { loadavg } from "node:os";
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
  /** CPU time of the main thread only (the manager, proplet agents, broker, database; not the Wasm workers, which tracing does not touch) per task. */
  mainCpuMsPerTask: number;
  /** The machine's 1-minute load average at the end of the run (other sessions share it). */
  loadAverage: number;
  /** With --count-promises: promises created per task over the concurrent phase. */
  promisesPerTask?: number;
  tasks: number;
}

/** The figures every run has (the medians and pairs are over these). */
type NumericFigure = Exclude<keyof Figures, "promisesPerTask">;

const OPTIONS = {
  tasks: { type: "string" },
  concurrency: { type: "string" },
  serial: { type: "string" },
  rounds: { type: "string" },
  proplets: { type: "string" },
  database: { type: "string" },
  modes: { type: "string" },
  protocol: { type: "string" },
  "count-promises": { type: "boolean" },
  child: { type: "string" },
} as const;

export async function benchTracing(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: OPTIONS, strict: true });
  const tasks = Number(values.tasks ?? 300);
  const concurrency = Number(values.concurrency ?? 8);
  const serial = Number(values.serial ?? 60);
  const proplets = Number(values.proplets ?? 2);
  if (values.child) {
    const figures = await child(values.child as Mode, { tasks, concurrency, serial, proplets, countPromises: values["count-promises"] ?? false, ...(values.database ? { database: values.database } : {}) });
    process.stdout.write(`BENCH_RESULT ${JSON.stringify(figures)}\n`);
    return;
  }
  const rounds = Number(values.rounds ?? 3);
  const modes = (values.modes ?? MODES.join(",")).split(",").map((m) => m.trim()) as Mode[];
  if (modes[0] !== "off" || modes.some((m) => !MODES.includes(m))) throw new Error(`--modes: a comma list starting with off, of ${MODES.join(", ")}`);
  const protocol = values.protocol ?? "http/protobuf";
  if (protocol !== "http/protobuf" && protocol !== "http/json") throw new Error("--protocol: http/protobuf (the SDK's default) or http/json");
  const receiver = await startOtlpReceiver({ keep: false });
  const results = Object.fromEntries(modes.map((m) => [m, [] as Figures[]])) as Record<Mode, Figures[]>;
  let tracedTasks = 0;
  try {
    console.log(
      `observability overhead: ${tasks} tasks at concurrency ${concurrency} + ${serial} serial, ${proplets} proplets, ${rounds} rounds of ${modes.join("/")} ` +
        `(interleaved: every round runs each mode once, in a fresh process, every other round in reverse order), tracing exported as OTLP ${protocol}, ${values.database ? "PostgreSQL" : "embedded PGlite"}`,
    );
    for (let round = 1; round <= rounds; round++) {
      // ABBA: every other round runs the modes in reverse, so a load that rises or falls steadily
      // during the run (other sessions starting, finishing) favours no mode.
      for (const mode of round % 2 === 1 ? modes : [...modes].reverse()) {
        const figures = await runChild(mode, args, receiver.url, protocol);
        results[mode].push(figures);
        if (mode === "tracing") tracedTasks += figures.tasks;
        console.log(
          `  round ${round} ${mode.padEnd(7)} ${fmt(figures.tasksPerSecond)} tasks/s, p50 ${fmt(figures.p50)} ms, p99 ${fmt(figures.p99)} ms; serial p50 ${fmt(figures.serialP50)} ms; ` +
            `CPU ${fmt(figures.cpuMsPerTask, 2)} ms/task (main thread ${fmt(figures.mainCpuMsPerTask, 2)}); load ${fmt(figures.loadAverage, 2)}` +
            (figures.promisesPerTask !== undefined ? `; ${fmt(figures.promisesPerTask, 0)} promises/task` : ""),
        );
      }
    }
  } finally {
    await receiver.close();
  }
  const m = (mode: Mode, key: NumericFigure) => median(results[mode].map((f) => f[key]));
  const range = (mode: Mode, key: NumericFigure, digits = 1) => {
    const xs = results[mode].map((f) => f[key]);
    return `${fmt(Math.min(...xs), digits)}–${fmt(Math.max(...xs), digits)}`;
  };
  /** Overhead in % (positive = worse): higher-is-better figures compare off/on, the others on/off. */
  const overhead = (on: number, off: number, higherIsBetter: boolean) => (higherIsBetter ? (off / on - 1) * 100 : (on / off - 1) * 100);
  const signed = (x: number) => `${x >= 0 ? "+" : ""}${fmt(x)}%`;
  console.log("\nmedians over the rounds (min–max of the rounds below each):");
  console.log("  mode        tasks/s        p50 ms        p99 ms   serial p50 ms   CPU ms/task   main-thread CPU ms/task");
  for (const mode of modes) {
    console.log(
      `  ${mode.padEnd(8)} ${fmt(m(mode, "tasksPerSecond")).padStart(10)} ${fmt(m(mode, "p50")).padStart(13)} ${fmt(m(mode, "p99")).padStart(13)} ` +
        `${fmt(m(mode, "serialP50")).padStart(15)} ${fmt(m(mode, "cpuMsPerTask"), 2).padStart(13)} ${fmt(m(mode, "mainCpuMsPerTask"), 2).padStart(25)}`,
    );
    console.log(
      `  ${"".padEnd(8)} ${range(mode, "tasksPerSecond").padStart(10)} ${range(mode, "p50").padStart(13)} ${range(mode, "p99").padStart(13)} ` +
        `${range(mode, "serialP50").padStart(15)} ${range(mode, "cpuMsPerTask", 2).padStart(13)} ${range(mode, "mainCpuMsPerTask", 2).padStart(25)}`,
    );
  }
  const FIGURES: Array<[NumericFigure, string, boolean]> = [
    ["tasksPerSecond", "throughput", true],
    ["p50", "p50", false],
    ["p99", "p99", false],
    ["serialP50", "serial p50", false],
    ["cpuMsPerTask", "CPU per task", false],
    ["mainCpuMsPerTask", "main-thread CPU per task", false],
  ];
  for (const mode of modes.filter((x) => x !== "off")) {
    console.log(`\n  overhead of ${mode} vs off (goal <= 5%; positive = slower or costlier): ratio of the medians; then the per-round pairs (each against the off run of its own round): median [min, max]`);
    for (const [key, label, higherIsBetter] of FIGURES) {
      const pairs = results[mode].map((f, i) => overhead(f[key], results.off[i]![key], higherIsBetter));
      console.log(
        `    ${label.padEnd(26)} ${signed(overhead(m(mode, key), m("off", key), higherIsBetter)).padStart(7)}   pairs ${signed(median(pairs)).padStart(7)} [${signed(Math.min(...pairs))}, ${signed(Math.max(...pairs))}]`,
      );
    }
  }
  if (modes.includes("tracing")) {
    console.log(`\n  spans exported with tracing on: ${receiver.counts.spans} (${fmt(receiver.counts.spans / Math.max(1, tracedTasks))} per task), ${fmt(receiver.counts.bytes / 1024 / 1024)} MiB of OTLP ${protocol}`);
  }
}

/** The median (the mean of the middle two for an even count). */
function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Runs one mode in a fresh process (compiled bench: dist/bench/run.js) and reads its figures. */
async function runChild(mode: Mode, args: string[], otlpUrl: string, protocol: string): Promise<Figures> {
  const runJs = join(fileURLToPath(new URL(".", import.meta.url)), "run.js");
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith("OTEL_")) delete env[key];
  if (mode === "tracing") {
    Object.assign(env, {
      OTEL_TRACES_EXPORTER: "otlp",
      OTEL_EXPORTER_OTLP_ENDPOINT: otlpUrl,
      OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
      OTEL_TRACES_SAMPLER: "always_on",
      OTEL_METRICS_EXPORTER: "none",
      OTEL_LOGS_EXPORTER: "none",
    });
  }
  const parentOnly = new Set(["--child", "--modes", "--protocol", "--rounds"]);
  const own = args.filter((_, i, all) => !parentOnly.has(all[i]!) && !parentOnly.has(all[i - 1]!));
  const proc = spawn(process.execPath, [runJs, "tracing", ...own, "--child", mode], { env, stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  proc.stdout.on("data", (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => proc.on("close", resolve));
  const line = out.split("\n").find((l) => l.startsWith("BENCH_RESULT "));
  if (code !== 0 || !line) throw new Error(`bench child (${mode}) exited ${code}: ${out.slice(-2000)}`);
  return JSON.parse(line.slice("BENCH_RESULT ".length)) as Figures;
}

/** One mode, in this process: tracing as the environment says (started before the stack loads), then the workload. */
async function child(mode: Mode, o: { tasks: number; concurrency: number; serial: number; proplets: number; countPromises: boolean; database?: string }): Promise<Figures> {
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
    // --count-promises: how many promises a task creates (each pays the context manager's promise
    // hook with tracing on; see tracing-costs). The counter is such a hook itself: its run's timings are not comparable.
    let promises = 0;
    const counter = o.countPromises ? createHook({ init: (_id, type) => void (type === "PROMISE" && promises++) }).enable() : undefined;
    const main0 = mainThreadCpuMs();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: o.concurrency }, async () => {
        while (next < o.tasks) latencies.push(await one(next++));
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const mainCpu = mainThreadCpuMs() - main0;
    counter?.disable();
    return {
      cpuMsPerTask: (cpu.user + cpu.system) / 1000 / o.tasks,
      mainCpuMsPerTask: mainCpu / o.tasks,
      tasksPerSecond: o.tasks / seconds,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      serialP50: percentile(serialTimes, 50),
      serialP99: percentile(serialTimes, 99),
      loadAverage: loadavg()[0]!,
      ...(counter ? { promisesPerTask: promises / o.tasks } : {}),
      tasks: o.tasks + o.serial + 8,
    };
  } finally {
    if (scraper) clearInterval(scraper);
    await stack.close();
    await tracing.shutdown();
  }
}

/** CPU time (user + system, ms) of this process's main thread, from /proc (Linux; process.cpuUsage counts every thread). */
function mainThreadCpuMs(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}
const CLOCK_TICKS = 100;
