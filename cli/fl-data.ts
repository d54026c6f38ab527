/**
 * Data for federated learning demos, tests and benchmarks (docs/fl.md "Data"): Debian's
 * python3-sklearn ships the Wisconsin breast cancer set (569 × 30, label 0 malignant / 1 benign);
 * it is read from there, never copied. The split is deterministic: a stratified 80/20 train/test
 * split, features standardized with the training set's mean and deviation (a preprocessing step
 * the participants agree on before training), then the training set dealt non-IID to the
 * participants: sorted by label, each takes a contiguous slice of unequal size, so the first holds
 * mostly one class and the last mostly the other. Also: the model's accuracy, and the same
 * logistic regression trained centrally on the pooled data (the benchmark's baseline), both in JS.
 */
import { readFile } from "node:fs/promises";

export const BREAST_CANCER_CSV = process.env.PROPELLER_FL_DATASET ?? "/usr/lib/python3/dist-packages/sklearn/datasets/data/breast_cancer.csv";

export interface Dataset {
  x: number[][];
  y: number[];
}

export async function loadBreastCancer(path = BREAST_CANCER_CSV): Promise<{ data: Dataset; raw: string }> {
  const raw = await readFile(path, "utf8");
  const lines = raw.trim().split("\n");
  const [rows, cols] = lines[0]!.split(",").map(Number) as [number, number];
  const x: number[][] = [];
  const y: number[] = [];
  for (const line of lines.slice(1)) {
    const v = line.split(",").map(Number);
    if (v.length !== cols + 1 || v.some((n) => !Number.isFinite(n))) throw new Error(`${path}: a line does not hold ${cols} features and a label`);
    x.push(v.slice(0, cols));
    y.push(v[cols]!);
  }
  if (x.length !== rows) throw new Error(`${path}: ${x.length} rows, the header says ${rows}`);
  return { data: { x, y }, raw };
}

/** splitmix64 as doubles in [0, 1): a seeded shuffle, the same on every machine. */
function rng(seed: number): () => number {
  let s = BigInt(seed);
  const mask = (1n << 64n) - 1n;
  return () => {
    s = (s + 0x9e3779b97f4a7c15n) & mask;
    let z = s;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & mask;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & mask;
    z ^= z >> 31n;
    return Number(z >> 11n) / 2 ** 53;
  };
}

function shuffle<T>(items: T[], next: () => number): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

export interface FederatedSplit {
  train: Dataset;
  test: Dataset;
  /** One shard per participant, non-IID. */
  shards: Dataset[];
}

export function federatedSplit(data: Dataset, participants: number, seed = 7): FederatedSplit {
  const next = rng(seed);
  const trainIdx: number[] = [];
  const testIdx: number[] = [];
  for (const label of [0, 1]) {
    const idx = shuffle(data.y.flatMap((l, i) => (l === label ? [i] : [])), next);
    const cut = Math.round(idx.length * 0.2);
    testIdx.push(...idx.slice(0, cut));
    trainIdx.push(...idx.slice(cut));
  }
  const d = data.x[0]!.length;
  const mean = new Array<number>(d).fill(0);
  const sd = new Array<number>(d).fill(0);
  for (const i of trainIdx) for (let j = 0; j < d; j++) mean[j]! += data.x[i]![j]! / trainIdx.length;
  for (const i of trainIdx) for (let j = 0; j < d; j++) sd[j]! += (data.x[i]![j]! - mean[j]!) ** 2 / trainIdx.length;
  for (let j = 0; j < d; j++) sd[j] = Math.sqrt(sd[j]!) || 1;
  const scale = (i: number) => data.x[i]!.map((v, j) => (v - mean[j]!) / sd[j]!);
  const pick = (idx: number[]): Dataset => ({ x: idx.map(scale), y: idx.map((i) => data.y[i]!) });
  // Non-IID: by label, then dealt in contiguous slices whose sizes grow (1, 2, … parts).
  const ordered = shuffle(trainIdx, next).sort((a, b) => data.y[a]! - data.y[b]!);
  const parts = Array.from({ length: participants }, (_, i) => i + 1);
  const total = parts.reduce((a, b) => a + b, 0);
  const shards: Dataset[] = [];
  let start = 0;
  for (const [i, p] of parts.entries()) {
    const end = i === participants - 1 ? ordered.length : start + Math.round((ordered.length * p) / total);
    shards.push(pick(ordered.slice(start, end)));
    start = end;
  }
  return { train: pick(trainIdx), test: pick(testIdx), shards };
}

/** A shard as the training client reads it: features then label, one example per line. */
export function shardCsv(shard: Dataset): string {
  return shard.x.map((row, i) => `${row.map((v) => v.toPrecision(10)).join(",")},${shard.y[i]}\n`).join("");
}

/** Fraction of examples a logistic model (feature weights then bias) classifies right. */
export function accuracy(weights: readonly number[], data: Dataset): number {
  const d = weights.length - 1;
  let right = 0;
  for (const [i, row] of data.x.entries()) {
    let z = weights[d]!;
    for (let j = 0; j < d; j++) z += weights[j]! * row[j]!;
    if ((z >= 0 ? 1 : 0) === data.y[i]) right++;
  }
  return right / data.x.length;
}

/**
 * The same model and optimiser as the C client (examples/fl/logreg.c), trained on pooled data:
 * mini-batch SGD on the logistic loss, shuffled each epoch. The benchmark's centralized baseline.
 */
export function trainCentralized(data: Dataset, options: { epochs: number; lr: number; batch: number; seed?: number }): number[] {
  const d = data.x[0]!.length;
  const w = new Array<number>(d + 1).fill(0);
  const next = rng(options.seed ?? 1);
  let order = data.x.map((_, i) => i);
  for (let e = 0; e < options.epochs; e++) {
    order = shuffle(order, next);
    for (let s = 0; s < order.length; s += options.batch) {
      const batch = order.slice(s, s + options.batch);
      const grad = new Array<number>(d + 1).fill(0);
      for (const i of batch) {
        let z = w[d]!;
        for (let j = 0; j < d; j++) z += w[j]! * data.x[i]![j]!;
        const err = 1 / (1 + Math.exp(-z)) - data.y[i]!;
        for (let j = 0; j < d; j++) grad[j]! += err * data.x[i]![j]!;
        grad[d]! += err;
      }
      for (let j = 0; j <= d; j++) w[j]! -= (options.lr * grad[j]!) / batch.length;
    }
  }
  return w;
}
