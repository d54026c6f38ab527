/**
 * Secure aggregation's cost over plain FedAvg (docs/fl.md, "Secure aggregation").
 * For 3, 10 and 50 simulated participants in one process, one round of:
 *   - plain FedAvg: the aggregator sums n weighted float64 updates (the baseline);
 *   - SecAgg (protocol/secagg): every participant's four steps (key generation, Shamir shares
 *     sealed to each peer, masking with n−1 pairwise ChaCha20 streams, unmask answer) and the
 *     aggregator's (relay, sum, rebuild seeds, remove masks), without and with dropouts
 *     (n − threshold participants leave after sharing keys: the aggregator rebuilds their mask
 *     keys and removes their pairwise masks from every survivor's input).
 * Figures: wall time per round (median of --reps), the ratio to plain FedAvg, one participant's
 * share of the time, and the bytes each participant sends, at --lengths lanes (31 = the logistic
 * regression on breast_cancer: 30 weights + bias; 100000 = a small MLP).
 *
 *   npm run bench -- fl-secagg [--participants 3,10,50] [--lengths 31,100000] [--reps 5]
 */
import { performance } from "node:perf_hooks";
import { SecAggAggregator, SecAggParticipant, fractionBitsFor, type SecAggParams } from "../protocol/secagg/index.js";
import { fmt } from "./stats.js";

function argList(args: string[], flag: string, fallback: number[]): number[] {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1]!.split(",").map(Number).filter((n) => Number.isInteger(n) && n > 0) : fallback;
}

interface Update {
  id: string;
  vector: Float64Array;
  weight: number;
}

function makeUpdates(n: number, length: number): Update[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `proplet-${String(i).padStart(3, "0")}`,
    vector: Float64Array.from({ length }, () => (Math.random() - 0.5) * 4),
    weight: 50 + Math.floor(Math.random() * 200),
  }));
}

function plainFedAvg(updates: Update[]): Float64Array {
  const length = updates[0]!.vector.length;
  const sum = new Float64Array(length);
  let weight = 0;
  for (const u of [...updates].sort((a, b) => (a.id < b.id ? -1 : 1))) {
    weight += u.weight;
    for (let i = 0; i < length; i++) sum[i] = sum[i]! + u.weight * u.vector[i]!;
  }
  for (let i = 0; i < length; i++) sum[i] = sum[i]! / weight;
  return sum;
}

interface SecAggTiming {
  total: number;
  participantMax: number;
  aggregator: number;
  bytesPerParticipant: number;
  maxError: number;
}

async function secAggRound(params: SecAggParams, updates: Update[], dropouts: number): Promise<SecAggTiming> {
  const began = performance.now();
  let aggregatorMs = 0;
  const participantMs = new Map<string, number>();
  const bytes = new Map<string, number>();
  const timed = <T>(id: string | null, f: () => T): T => {
    const t0 = performance.now();
    try {
      return f();
    } finally {
      const dt = performance.now() - t0;
      if (id === null) aggregatorMs += dt;
      else participantMs.set(id, (participantMs.get(id) ?? 0) + dt);
    }
  };
  const sent = (id: string, msg: unknown) => bytes.set(id, (bytes.get(id) ?? 0) + Buffer.byteLength(JSON.stringify(msg)));
  const aggregator = timed(null, () => new SecAggAggregator(params, updates.map((u) => u.id)));
  const parts = updates.map((u) => ({ u, p: new SecAggParticipant(u.id, params) }));
  for (const { u, p } of parts) {
    const msg = timed(u.id, () => p.advertise());
    sent(u.id, msg);
    timed(null, () => aggregator.addAdvertise(msg));
  }
  const roster = timed(null, () => aggregator.closeAdvertise());
  for (const { u, p } of parts) {
    const t0 = performance.now();
    const msg = await p.shareKeys(roster);
    participantMs.set(u.id, (participantMs.get(u.id) ?? 0) + performance.now() - t0);
    sent(u.id, msg);
    timed(null, () => aggregator.addShareKeys(msg));
  }
  const bundles = timed(null, () => aggregator.closeShareKeys());
  const leaving = new Set(parts.slice(0, dropouts).map(({ u }) => u.id));
  for (const bundle of bundles) {
    if (leaving.has(bundle.to)) continue;
    const { u, p } = parts.find(({ u }) => u.id === bundle.to)!;
    const msg = timed(u.id, () => p.maskedInput(bundle, u.vector, u.weight));
    sent(u.id, msg);
    timed(null, () => aggregator.addMaskedInput(msg));
  }
  const request = timed(null, () => aggregator.closeMaskedInput());
  for (const id of request.survivors) {
    const { p } = parts.find(({ u }) => u.id === id)!;
    const msg = timed(id, () => p.unmask(request));
    sent(id, msg);
    timed(null, () => aggregator.addUnmask(msg));
  }
  const t0 = performance.now();
  const result = await aggregator.finish();
  aggregatorMs += performance.now() - t0;
  const total = performance.now() - began;
  const expected = plainFedAvg(updates.filter((u) => !leaving.has(u.id)));
  let maxError = 0;
  for (let i = 0; i < expected.length; i++) maxError = Math.max(maxError, Math.abs(result.mean[i]! - expected[i]!));
  const survivorsBytes = request.survivors.map((id) => bytes.get(id)!);
  return { total, participantMax: Math.max(...participantMs.values()), aggregator: aggregatorMs, bytesPerParticipant: Math.max(...survivorsBytes), maxError };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function benchFlSecAgg(args: string[]): Promise<void> {
  const counts = argList(args, "--participants", [3, 10, 50]);
  const lengths = argList(args, "--lengths", [31, 100_000]);
  const reps = argList(args, "--reps", [5])[0]!;
  console.log(`# secure aggregation vs plain FedAvg, one round in one process, median of ${reps}`);
  console.log("lanes\tn\tthreshold\tdropouts\tplain ms\tsecagg ms (all, serial)\tratio\tparticipant ms (max)\taggregator ms\tround ms (parallel)\tratio (parallel)\tbytes sent / participant\tplain bytes\tmax |error|");
  for (const length of lengths) {
    for (const n of counts) {
      const threshold = Math.max(2, Math.ceil((2 * n) / 3));
      const params: SecAggParams = { roundId: `bench/${n}/${length}`, threshold, length, clip: 8, maxWeight: 1000, fractionBits: fractionBitsFor(n, 1000, 8) };
      for (const dropouts of [0, n - threshold]) {
        const plain: number[] = [];
        const secagg: SecAggTiming[] = [];
        for (let r = 0; r < reps; r++) {
          const updates = makeUpdates(n, length);
          // Plain FedAvg is fast: repeat it to get above timer resolution.
          const inner = Math.max(1, Math.ceil(2e6 / (n * length)));
          const t0 = performance.now();
          for (let k = 0; k < inner; k++) plainFedAvg(updates);
          plain.push((performance.now() - t0) / inner);
          secagg.push(await secAggRound({ ...params, roundId: `${params.roundId}/${r}` }, updates, dropouts));
        }
        const p = median(plain);
        const s = median(secagg.map((t) => t.total));
        // A plain update on the wire: its float64 values in binary and the weight.
        const plainBytes = 8 * length + 8;
        // Participants run side by side in a real round: its latency is the slowest one's work plus the aggregator's.
        const parallel = median(secagg.map((t) => t.participantMax + t.aggregator));
        console.log(
          [length, n, threshold, dropouts, fmt(p, 3), fmt(s, 1), `${fmt(s / p, 0)}×`, fmt(median(secagg.map((t) => t.participantMax)), 1), fmt(median(secagg.map((t) => t.aggregator)), 1), fmt(parallel, 1), `${fmt(parallel / p, 0)}×`, median(secagg.map((t) => t.bytesPerParticipant)), plainBytes, Math.max(...secagg.map((t) => t.maxError)).toExponential(1)].join("\t"),
        );
      }
    }
  }
}
