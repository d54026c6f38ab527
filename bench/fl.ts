/**
 * Federated learning: accuracy after N rounds of FedAvg (the C client on 3 real proplets with
 * non-IID shards of the breast cancer set, real manager on PostgreSQL, real Mosquitto) against the
 * same model trained centrally on the pooled data in the same run (same SGD, as many passes over
 * the data), and scikit-learn's LogisticRegression on the same split where Debian's python3-sklearn
 * imports. Time per round and its breakdown (open: tasks created and queued; train: until the last
 * update was judged; aggregate), each participant run's queue / execution split, and the round time
 * as a ratio of one plain run of the same workload on the largest shard (the baseline).
 *
 *   npm run bench -- fl [--rounds N] [--epochs E]
 */
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import pino from "pino";
import { generateApiKey, startManager } from "../manager/index.js";
import { startProplet } from "../proplet/index.js";
import { ManagerClient } from "../cli/manager-client.js";
import { accuracy, federatedSplit, loadBreastCancer, shardCsv, trainCentralized } from "../cli/fl-data.js";
import { encodeModel, modelDigest, sha256Digest } from "../protocol/index.js";
import { createTestDatabase } from "../testing/postgres.js";
import { TEST_MQTT_URL } from "../testing/mosquitto.js";
import { uniqueTopicRoot } from "../testing/net.js";
import { REPO_ROOT } from "../testing/paths.js";
import { fmt, percentile } from "./stats.js";

const VOLUME = "fl-data";
const ms = (a: string | null, b: string | null) => (a && b ? new Date(b).getTime() - new Date(a).getTime() : NaN);

/** scikit-learn's LogisticRegression (default L2, lbfgs) on the same split, or null when it does not import. */
function sklearnAccuracy(trainFile: string, testFile: string): number | null {
  const script = [
    "import sys, numpy as np",
    "from sklearn.linear_model import LogisticRegression",
    "tr = np.loadtxt(sys.argv[1], delimiter=','); te = np.loadtxt(sys.argv[2], delimiter=',')",
    "m = LogisticRegression(max_iter=5000).fit(tr[:, :-1], tr[:, -1])",
    "print(m.score(te[:, :-1], te[:, -1]))",
  ].join("\n");
  try {
    const out = Number(execFileSync("/usr/bin/python3", ["-c", script, trainFile, testFile], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 60_000 }).trim());
    return Number.isFinite(out) ? out : null;
  } catch {
    return null;
  }
}

export async function benchFl(args: string[]): Promise<void> {
  const opt = (name: string, fallback: number) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? Number(args[i + 1]) : fallback;
  };
  const rounds = opt("rounds", 10);
  const epochs = opt("epochs", 1);
  const hyper = { lr: 0.1, batch: 16 };
  const { data } = await loadBreastCancer();
  const split = federatedSplit(data, 3);
  const scratch = await mkdtemp(join(tmpdir(), "propeller-bench-fl-"));
  const db = await createTestDatabase("propeller_bench");
  const key = generateApiKey().key;
  const topicRoot = uniqueTopicRoot();
  const logger = pino({ level: "silent" });
  const manager = await startManager({ databaseUrl: db.url, mqtt: { url: TEST_MQTT_URL }, topicRoot, http: { port: 0 }, auth: { bootstrapKeys: [{ name: "bench", key, scopes: ["admin"] }] }, logger });
  const proplets = [];
  try {
    for (let i = 1; i <= 3; i++) {
      const workDir = join(scratch, `p${i}`);
      await mkdir(join(workDir, "volumes", VOLUME), { recursive: true });
      await writeFile(join(workDir, "volumes", VOLUME, "shard.csv"), shardCsv(split.shards[i - 1]!));
      proplets.push(await startProplet({ id: `p${i}`, mqtt: { url: TEST_MQTT_URL }, topicRoot, workDir, logger }));
    }
    const client = new ManagerClient({ baseUrl: manager.url, token: key });
    while ((await client.proplets()).items.filter((p) => p.alive).length < 3) await new Promise((r) => setTimeout(r, 50));
    const wasm = await readFile(join(REPO_ROOT, "examples", "components", "fl", "logreg.component.wasm"));
    const workload = { digest: sha256Digest(wasm), inline: wasm.toString("base64") };
    const flArgs = ["--epochs", String(epochs), "--lr", String(hyper.lr), "--batch", String(hyper.batch)];
    const zeros = { shape: [31], weights: new Array<number>(31).fill(0) };

    // Baseline: one plain run of the same workload on the largest shard (after a warm-up run, so
    // the component is transpiled and cached on that proplet, as it is for rounds after the first).
    const plainRun = async () => {
      const started = performance.now();
      const task = await client.createTask({
        name: "bench-fl-plain", artifact: workload, runtime: "component", args: flArgs,
        env: { FL_ROUND: "1", FL_MODEL_DIGEST: modelDigest(zeros) }, stdin: Buffer.from(encodeModel(zeros)).toString("base64"),
        target: "p3", grants: { dirs: [{ guest: "/data", readonly: true, volume: VOLUME }] }, start: true,
      });
      const done = await client.waitForFinish(task.id, 60_000);
      if (done.state !== "completed") throw new Error(`plain run ${done.state}`);
      return performance.now() - started;
    };
    for (const p of ["p1", "p2", "p3"]) {
      const t = await client.createTask({ name: "bench-fl-warm", artifact: workload, runtime: "component", args: flArgs, env: { FL_ROUND: "1", FL_MODEL_DIGEST: modelDigest(zeros) }, stdin: Buffer.from(encodeModel(zeros)).toString("base64"), target: p, grants: { dirs: [{ guest: "/data", readonly: true, volume: VOLUME }] }, start: true });
      await client.waitForFinish(t.id, 60_000);
    }
    const plain: number[] = [];
    for (let i = 0; i < 5; i++) plain.push(await plainRun());

    const started = performance.now();
    const exp = await client.createExperiment({ name: "bench", workload, model: zeros, rounds, participants: { proplets: ["p1", "p2", "p3"] }, k: 3, roundDeadlineMs: 60_000, args: flArgs, data: { volume: VOLUME }, start: true });
    const done = await client.waitForExperiment(exp.id, rounds * 60_000);
    const wallMs = performance.now() - started;
    if (done.state !== "completed") throw new Error(`experiment ${done.state}: ${done.reason}`);
    const full = await client.getExperiment(exp.id);
    const fedAcc: number[] = [];
    for (const r of full.roundList!) fedAcc.push(accuracy((await client.getModel(exp.id, r.round)).weights, split.test));

    const roundMs = full.roundList!.map((r) => ms(r.startedAt, r.finishedAt));
    const openMs = full.roundList!.map((r) => r.timings.openMs ?? NaN);
    const trainMs = full.roundList!.map((r) => r.timings.trainMs ?? NaN);
    const aggMs = full.roundList!.map((r) => r.timings.aggregateMs ?? NaN);
    const queueMs: number[] = [];
    const execMs: number[] = [];
    const afterMs: number[] = [];
    for (const r of full.roundList!) {
      for (const u of r.updates) {
        const run = (await client.getTask(u.taskId!)).latestRun!;
        queueMs.push(ms(run.createdAt, run.startedAt));
        execMs.push(ms(run.startedAt, run.finishedAt));
        afterMs.push(ms(run.finishedAt, u.finishedAt));
      }
    }

    // The same experiment with secure aggregation: updates held on the proplets, the manager learns the sum.
    const sStarted = performance.now();
    const sExp = await client.createExperiment({ name: "bench-secagg", workload, model: zeros, rounds, participants: { proplets: ["p1", "p2", "p3"] }, k: 3, roundDeadlineMs: 60_000, args: flArgs, data: { volume: VOLUME }, aggregation: "secagg", start: true });
    const sDone = await client.waitForExperiment(sExp.id, rounds * 60_000);
    const sWallMs = performance.now() - sStarted;
    if (sDone.state !== "completed") throw new Error(`secagg experiment ${sDone.state}: ${sDone.reason}`);
    const sFull = await client.getExperiment(sExp.id);
    const secAcc: number[] = [];
    for (const r of sFull.roundList!) secAcc.push(accuracy((await client.getModel(sExp.id, r.round)).weights, split.test));
    const sRoundMs = sFull.roundList!.map((r) => ms(r.startedAt, r.finishedAt));
    const sTrainMs = sFull.roundList!.map((r) => r.timings.trainMs ?? NaN);
    const sAggMs = sFull.roundList!.map((r) => r.timings.aggregateMs ?? NaN);

    // Centralized: the same model and SGD on the pooled training data, as many passes (rounds × epochs).
    const cStart = performance.now();
    const central = trainCentralized(split.train, { epochs: rounds * epochs, ...hyper });
    const centralMs = performance.now() - cStart;
    const centralAcc = accuracy(central, split.test);
    await writeFile(join(scratch, "train.csv"), split.train.x.map((r, i) => `${r.join(",")},${split.train.y[i]}`).join("\n"));
    await writeFile(join(scratch, "test.csv"), split.test.x.map((r, i) => `${r.join(",")},${split.test.y[i]}`).join("\n"));
    const sk = sklearnAccuracy(join(scratch, "train.csv"), join(scratch, "test.csv"));

    const med = (v: number[]) => fmt(percentile(v.filter(Number.isFinite), 50), 0);
    const p95 = (v: number[]) => fmt(percentile(v.filter(Number.isFinite), 95), 0);
    console.log(`\nfl: ${rounds} rounds × ${epochs} local epoch(s), 3 proplets (shards ${split.shards.map((s) => s.x.length).join("/")}, non-IID), ${split.test.x.length} held out`);
    console.log(`accuracy per round (federated): ${fedAcc.map((a) => fmt(a * 100, 1)).join(" ")}`);
    console.log(`accuracy after ${rounds} rounds: federated ${fmt(fedAcc[fedAcc.length - 1]! * 100, 1)} %, centralized (same SGD, ${rounds * epochs} epochs on pooled data) ${fmt(centralAcc * 100, 1)} %, gap ${fmt((centralAcc - fedAcc[fedAcc.length - 1]!) * 100, 1)} points`);
    console.log(`scikit-learn LogisticRegression on the same split: ${sk === null ? "not installed (/usr/bin/python3 cannot import sklearn)" : `${fmt(sk * 100, 1)} %`}`);
    console.log(`time per round (ms): median ${med(roundMs)}, p95 ${p95(roundMs)}; whole experiment ${fmt(wallMs, 0)} ms`);
    console.log(`  breakdown median: open ${med(openMs)} (tasks created + queued), train ${med(trainMs)} (until the last update was judged), aggregate ${med(aggMs)}`);
    console.log(`  per participant run median: queued→started ${med(queueMs)}, execution ${med(execMs)}, finished→judged ${med(afterMs)}`);
    console.log(`baseline: one plain run of the same workload on the largest shard ${med(plain)} ms; a round is ${fmt(percentile(roundMs, 50) / percentile(plain, 50), 2)}× that`);
    console.log(`secure aggregation (same rounds, same client): accuracy per round ${secAcc.map((a) => fmt(a * 100, 1)).join(" ")}; after ${rounds} rounds ${fmt(secAcc[secAcc.length - 1]! * 100, 1)} % (plain ${fmt(fedAcc[fedAcc.length - 1]! * 100, 1)} %)`);
    console.log(`  time per round (ms): median ${med(sRoundMs)}, p95 ${p95(sRoundMs)} (${fmt(percentile(sRoundMs, 50) / percentile(roundMs, 50), 2)}× a plain round); train ${med(sTrainMs)}, secure aggregation (4 MQTT steps) ${med(sAggMs)} against plain FedAvg ${med(aggMs)}; whole experiment ${fmt(sWallMs, 0)} ms`);
    console.log(`centralized training in JS on pooled data: ${fmt(centralMs, 0)} ms for ${rounds * epochs} epochs`);
  } finally {
    for (const p of proplets) await p.close().catch(() => undefined);
    await manager.close();
    await db.drop();
    await rm(scratch, { recursive: true, force: true });
  }
}
