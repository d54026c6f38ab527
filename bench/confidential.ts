/**
 * What confidentiality costs per task: end-to-end latency (create task → completed, as seen through
 * the manager's REST API) of
 *  (a) the plain workload,
 *  (b) the same workload confidential, COLD: the first confidential task on a fresh proplet, which
 *      attests to the KBS (auth + attest + resource) before it can decrypt,
 *  (c) confidential, WARM: later tasks (EAR token cached; each still fetches the key resource as a
 *      JWE and decrypts the workload),
 * with ONE proplet (so cold and warm are clean) and the ratios (b)/(a), (c)/(a).
 *
 * Cold is measured once per fresh stack (broker, PGlite, manager, development KBS, proplet attesting
 * with the sample TEE), each stack first warmed with plain tasks so the cold figure is the
 * attestation and not the stack's own first-task costs. Plain and warm runs alternate in the first
 * stack so drift hits both alike. Latency is polled at a fixed short interval, not with
 * ManagerClient.waitForFinish's backoff (up to 500 ms), which would dominate the figures.
 *
 *   npm run bench -- confidential [--runs N] [--cold K] [--poll MS] [--workload add|hello]
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import pino from "pino";
import { startStack, type Stack } from "../cli/stack.js";
import { ManagerClient, TERMINAL_STATES } from "../cli/manager-client.js";
import type { Task as TaskView } from "../protocol/api/index.js";
import { confidentialTaskBody, sealWorkload, type SealedWorkload } from "../cli/confidential.js";
import { sha256Digest } from "../protocol/index.js";
import { EXAMPLES_DIR } from "../testing/paths.js";
import { fmt, percentile } from "./stats.js";

interface Workload {
  file: string;
  /** Task fields besides name/artifact/confidential. */
  extra: Record<string, unknown>;
  /** Throws when the run's result is not what the workload computes. */
  check(task: TaskView): void;
}

const WORKLOADS: Record<string, Workload> = {
  add: {
    file: join(EXAMPLES_DIR, "add", "add.wasm"),
    extra: { entrypoint: { kind: "export", name: "add", inputs: [40, 2] } },
    check: (task) => {
      const got = JSON.stringify(task.latestRun?.result?.returnValues);
      if (got !== "[42]") throw new Error(`add(40, 2) returned ${got}`);
    },
  },
  hello: {
    file: join(EXAMPLES_DIR, "hello", "hello.wasm"),
    extra: { args: ["bench"] },
    check: (task) => {
      if (!task.latestRun?.result?.stdout.includes("bench")) throw new Error(`unexpected stdout ${JSON.stringify(task.latestRun?.result?.stdout)}`);
    },
  },
};

const TASK_TIMEOUT_MS = 60_000;

interface Timing {
  /** Client-side: create request sent → completed task seen. */
  total: number;
  /** Manager clock: task created → run started (dispatch over MQTT until the proplet says started). */
  toStart: number;
  /** Manager clock: run started → run finished (on the proplet: fetch key, decrypt, run, receipt). */
  startToFinish: number;
}

/** Creates a started task and polls it every `pollMs` until its run is terminal. */
async function timeTask(client: ManagerClient, body: Record<string, unknown>, pollMs: number, workload: Workload): Promise<Timing> {
  const t0 = performance.now();
  const created = await client.createTask({ ...body, start: true });
  const deadline = t0 + TASK_TIMEOUT_MS;
  for (;;) {
    const task = await client.getTask(created.id);
    if (TERMINAL_STATES.has(task.state) && task.latestRun && TERMINAL_STATES.has(task.latestRun.state)) {
      const elapsed = performance.now() - t0;
      if (task.state !== "completed") {
        const error = task.latestRun.result?.error;
        throw new Error(`task ${task.id} (${String(body.name)}) ended ${task.state}${error ? `: ${error.code}: ${error.message}` : ""}`);
      }
      workload.check(task);
      const run = task.latestRun;
      const at = (iso: string | null) => (iso ? Date.parse(iso) : NaN);
      return { total: elapsed, toStart: at(run.startedAt) - at(task.createdAt), startToFinish: at(run.finishedAt) - at(run.startedAt) };
    }
    if (performance.now() > deadline) throw new Error(`task ${created.id} did not finish within ${TASK_TIMEOUT_MS} ms (state ${task.state})`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

interface Prepared {
  stack: Stack;
  client: ManagerClient;
  plainBody: (i: number) => Record<string, unknown>;
  confidentialBody: (i: number) => Record<string, unknown>;
  /** The warm-up plain tasks' timings: the baseline each cold figure is paired with. */
  warmupPlain: Timing[];
}

/** A fresh stack with one live proplet, the workload sealed in its KBS, and `warmup` plain tasks run. */
async function prepare(wasm: Buffer, workload: Workload, warmup: number, pollMs: number): Promise<Prepared> {
  const stack = await startStack({ proplets: 1, kbs: true, logger: pino({ level: "error" }) });
  try {
    const client = new ManagerClient({ baseUrl: stack.managerUrl, token: stack.managerToken });
    let alive = false;
    for (let i = 0; i < 300 && !alive; i++) {
      alive = (await client.proplets()).items.some((p) => p.alive);
      if (!alive) await new Promise((r) => setTimeout(r, 50));
    }
    if (!alive) throw new Error("the proplet did not announce itself within 15 s");
    const kbs = stack.kbs!;
    const kbsModule = await import("../kbs/index.js");
    const admin = { url: kbs.url, token: () => kbsModule.mintAdminToken(kbs.adminKey, { keyId: String(kbs.adminKey.kid), subject: "bench" }) };
    const sealed: SealedWorkload = await sealWorkload(wasm, admin, "bench/workload/wasm", "sample");
    const artifact = { digest: sha256Digest(wasm), inline: wasm.toString("base64") };
    const spec = { kbsUrl: kbs.url, resource: sealed.resource, plaintextDigest: sealed.plaintextDigest, tee: "sample" as const };
    const prepared: Prepared = {
      stack,
      client,
      plainBody: (i) => ({ name: `plain-${i}`, artifact, ...workload.extra }),
      confidentialBody: (i) => confidentialTaskBody(`confidential-${i}`, sealed.ciphertext, spec, workload.extra),
      warmupPlain: [],
    };
    for (let i = 0; i < warmup; i++) prepared.warmupPlain.push(await timeTask(client, prepared.plainBody(-1 - i), pollMs, workload));
    return prepared;
  } catch (err) {
    await stack.close();
    throw err;
  }
}

export async function benchConfidential(args: string[]): Promise<void> {
  const get = (flag: string, fallback: string) => {
    const i = args.indexOf(flag);
    return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
  };
  const runs = Number(get("--runs", "30"));
  const coldStacks = Number(get("--cold", "5"));
  const pollMs = Number(get("--poll", "10"));
  const workloadName = get("--workload", "add");
  const workload = WORKLOADS[workloadName];
  if (!workload) throw new Error(`unknown workload "${workloadName}"; choose one of: ${Object.keys(WORKLOADS).join(", ")}`);
  if (!(runs >= 1 && coldStacks >= 1 && pollMs >= 1)) throw new Error("--runs, --cold and --poll must be positive");
  const wasm = await readFile(workload.file);
  const warmup = 5;

  console.log(
    `confidential: ${workloadName} (${wasm.length} B Wasm), 1 proplet (sample TEE), development KBS, embedded aedes + PGlite; ` +
      `${runs} runs each, ${warmup} plain warm-up tasks per stack excluded, poll every ${pollMs} ms`,
  );

  const cold: Timing[] = [];
  /** Per stack: the plain baseline measured just before its cold task (the last 3 warm-ups' median). */
  const coldBaseline: number[] = [];
  const plain: Timing[] = [];
  const warm: Timing[] = [];
  for (let s = 0; s < coldStacks; s++) {
    const p = await prepare(wasm, workload, warmup, pollMs);
    try {
      coldBaseline.push(percentile(p.warmupPlain.slice(-3).map((t) => t.total), 50));
      cold.push(await timeTask(p.client, p.confidentialBody(0), pollMs, workload));
      if (s === 0) {
        // Warm the confidential path too (its first runs still JIT the decrypt code), then
        // alternate plain and confidential so any drift affects both.
        for (let i = 1; i <= warmup; i++) await timeTask(p.client, p.confidentialBody(-i), pollMs, workload);
        for (let i = 0; i < runs; i++) {
          plain.push(await timeTask(p.client, p.plainBody(i), pollMs, workload));
          warm.push(await timeTask(p.client, p.confidentialBody(i + 1), pollMs, workload));
        }
      }
    } finally {
      await p.stack.close();
    }
  }

  const total = (ts: Timing[]) => ts.map((t) => t.total);
  const median = (ts: Timing[], key: "toStart" | "startToFinish") => percentile(ts.map((t) => t[key]), 50);
  const a50 = percentile(total(plain), 50);
  const a99 = percentile(total(plain), 99);
  const c50 = percentile(total(warm), 50);
  const b50 = percentile(total(cold), 50);
  console.log("case                                    | runs | p50 ms | p99 ms | p50/(a) | p99/(a) | created→started p50 | started→finished p50");
  const row = (label: string, ts: Timing[], p50: number, p99: number) =>
    console.log(
      `${label.padEnd(39)} | ${String(ts.length).padStart(4)} | ${fmt(p50).padStart(6)} | ${fmt(p99).padStart(6)} | ${fmt(p50 / a50, 2).padStart(6)}x | ${fmt(p99 / a99, 2).padStart(6)}x | ${fmt(median(ts, "toStart"), 0).padStart(19)} | ${fmt(median(ts, "startToFinish"), 0).padStart(20)}`,
    );
  row("(a) plain", plain, a50, a99);
  row("(b) confidential COLD (1st on proplet)", cold, b50, Math.max(...total(cold)));
  row("(c) confidential WARM (token cached)", warm, c50, percentile(total(warm), 99));
  console.log(`(b) is one task per fresh stack: its p50 is the median over the ${cold.length} stacks, its "p99" their maximum`);
  console.log(`(b) per fresh stack, total ms: ${cold.map((t) => fmt(t.total)).join(", ")} (stack 1 also pays the process's first load of the KBS-client and decrypt code)`);
  console.log(`(b) paired with the same stack's plain baseline (median of its last 3 warm-ups), ms: ${cold.map((t, i) => `${fmt(t.total)}/${fmt(coldBaseline[i]!)} = ${fmt(t.total / coldBaseline[i]!, 2)}x`).join(", ")}`);
  console.log(`attestation cost ≈ (b) − (c) p50 = ${fmt(b50 - c50)} ms; warm confidential overhead ≈ (c) − (a) p50 = ${fmt(c50 - a50)} ms`);
  console.log("created→started / started→finished: medians on the manager's clock (run timestamps from its REST API)");
}
