/**
 * `propeller fl demo`: federated learning on the embedded stack (aedes, PGlite, manager) with three
 * proplets, each holding a non-IID shard of the breast cancer set in its own work directory; the C
 * training client runs each round; the test accuracy of every global model is printed.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, parsePositiveInt } from "../args.js";
import { UsageError } from "../errors.js";
import { BREAST_CANCER_CSV, accuracy, federatedSplit, loadBreastCancer, shardCsv } from "../fl-data.js";
import { cliLogger } from "../logger.js";
import { ManagerClient } from "../manager-client.js";
import type { Output } from "../output.js";
import { startStack } from "../stack.js";
import { sha256Digest } from "../../protocol/index.js";
import { startProplet } from "../../proplet/index.js";
import { messageOf } from "../../lib/errors.js";

const VOLUME = "fl-data";

function examplePath(...parts: string[]): string {
  const fromHere = fileURLToPath(new URL("../../", import.meta.url));
  const root = fromHere.endsWith("/dist/") ? join(fromHere, "..") : fromHere;
  return join(root, "examples", ...parts);
}

export async function flDemo(argv: string[], io: Output): Promise<number> {
  const { values } = parse("fl demo", argv, { rounds: { type: "string" }, proplets: { type: "string" }, secagg: { type: "boolean" }, "log-file": { type: "string" }, json: { type: "boolean" } }, false);
  const rounds = parsePositiveInt("--rounds", values.rounds, 8);
  const count = parsePositiveInt("--proplets", values.proplets, 3);
  if (count > 10) throw new UsageError("--proplets: at most 10 for the demo");
  if (values.secagg && count < 2) throw new UsageError("--secagg needs at least 2 proplets (a single update has nothing to hide among)");
  const aggregation = values.secagg ? "secure aggregation (the manager sees only the sum)" : "FedAvg";
  let loaded;
  try {
    loaded = await loadBreastCancer();
  } catch (err) {
    throw new UsageError(`the demo reads ${BREAST_CANCER_CSV} (Debian's python3-sklearn: apt-get install python3-sklearn): ${messageOf(err)}`);
  }
  const split = federatedSplit(loaded.data, count);
  const say = (s: string) => {
    if (!values.json) io.out(s);
  };
  const logFile = values["log-file"] ?? join(tmpdir(), `propeller-fl-demo-${new Date().toISOString().replace(/[:.]/g, "-")}.log`);
  const logger = cliLogger("info", logFile);
  say(`Federated learning demo: embedded broker and database, manager, ${count} proplets`);
  say(`data: ${BREAST_CANCER_CSV} (569 × 30), ${split.train.x.length} training examples dealt non-IID, ${split.test.x.length} held out`);
  const stack = await startStack({ proplets: 0, logger });
  const scratch = await mkdtemp(join(tmpdir(), "propeller-fl-demo-"));
  const proplets: Array<Awaited<ReturnType<typeof startProplet>>> = [];
  try {
    for (let i = 1; i <= count; i++) {
      const workDir = join(scratch, `proplet-${i}`);
      await mkdir(join(workDir, "volumes", VOLUME), { recursive: true });
      const shard = split.shards[i - 1]!;
      await writeFile(join(workDir, "volumes", VOLUME, "shard.csv"), shardCsv(shard));
      const positives = shard.y.filter((y) => y === 1).length;
      say(`  fl-${i}: ${shard.x.length} examples (${shard.x.length - positives} malignant, ${positives} benign), kept in its own work directory`);
      proplets.push(await startProplet({ id: `fl-${i}`, mqtt: { url: stack.brokerUrl }, workDir, logger: logger.child({ box: "proplet", proplet: `fl-${i}` }) }));
    }
    const client = new ManagerClient({ baseUrl: stack.managerUrl, token: stack.managerToken });
    const deadline = Date.now() + 20_000;
    while ((await client.proplets()).items.filter((p) => p.alive).length < count) {
      if (Date.now() > deadline) throw new Error("the demo proplets did not come up");
      await new Promise((r) => setTimeout(r, 100));
    }
    const wasm = await readFile(examplePath("components", "fl", "logreg.component.wasm"));
    const exp = await client.createExperiment({
      name: "breast-cancer-demo",
      workload: { digest: sha256Digest(wasm), inline: wasm.toString("base64") },
      model: { shape: [31], weights: new Array<number>(31).fill(0) },
      rounds,
      participants: { proplets: proplets.map((p) => p.id) },
      k: count,
      roundDeadlineMs: 60_000,
      args: ["--epochs", "2", "--lr", "0.1", "--batch", "16"],
      data: { volume: VOLUME },
      ...(values.secagg ? { aggregation: "secagg" as const } : {}),
      start: true,
    });
    say(`experiment ${exp.id}: ${rounds} rounds of ${aggregation} over ${count} participants\n`);
    const rows: Array<{ round: number; accuracy: number; digest: string; trainMs: number | null }> = [];
    const initial = await client.getModel(exp.id, 0);
    rows.push({ round: 0, accuracy: accuracy(initial.weights, split.test), digest: initial.digest, trainMs: null });
    say(`  round  0  test accuracy ${(rows[0]!.accuracy * 100).toFixed(1).padStart(5)} %  (initial model ${initial.digest.slice(0, 19)}…)`);
    let shown = 0;
    const end = Date.now() + rounds * 60_000;
    for (;;) {
      const e = await client.getExperiment(exp.id);
      for (const r of e.roundList ?? []) {
        if (r.round <= shown || r.state !== "completed" || !r.model) continue;
        const m = await client.getModel(exp.id, r.model.version);
        const acc = accuracy(m.weights, split.test);
        rows.push({ round: r.round, accuracy: acc, digest: m.digest, trainMs: r.timings.trainMs });
        say(`  round ${String(r.round).padStart(2)}  test accuracy ${(acc * 100).toFixed(1).padStart(5)} %  (${r.accepted}/${r.updates.length} updates, ${r.timings.trainMs} ms, model ${m.digest.slice(0, 19)}…)`);
        shown = r.round;
      }
      if (e.state !== "running") {
        if (e.state !== "completed") throw new Error(`the experiment ${e.state}: ${e.reason ?? ""}`);
        break;
      }
      if (Date.now() > end) throw new Error("the experiment did not finish in time");
      await new Promise((r) => setTimeout(r, 200));
    }
    if (values.json) io.out(JSON.stringify({ experimentId: exp.id, aggregation: values.secagg ? "secagg" : "fedavg", rounds: rows }, null, 2));
    else {
      const kept = values.secagg ? "the manager stored only models: each update stayed on its proplet and reached the manager masked, summed with the others" : "the manager stored only models and updates";
      say(`\nno training example left its proplet: each read its shard through a read-only grant; ${kept}.\nlogs: ${logFile}`);
    }
    return 0;
  } finally {
    for (const p of proplets) await p.close().catch(() => undefined);
    await stack.close();
    await rm(scratch, { recursive: true, force: true });
  }
}
