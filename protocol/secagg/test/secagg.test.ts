import { describe, expect, it } from "vitest";
import { SecAggAggregator, SecAggParticipant, checkParams, decodeLanes, fractionBitsFor, quantize, type SecAggParams, type SecAggResult } from "../index.js";

const CLIP = 8;
const MAX_WEIGHT = 1000;

function paramsFor(n: number, threshold: number, length: number, roundId = "exp-1/round-3"): SecAggParams {
  return { roundId, threshold, length, clip: CLIP, maxWeight: MAX_WEIGHT, fractionBits: fractionBitsFor(n, MAX_WEIGHT, CLIP) };
}

/** A deterministic pseudo-random generator (mulberry32), so failures replay. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Update {
  id: string;
  vector: number[];
  weight: number;
}

function updates(n: number, length: number, seed = 1): Update[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => ({
    id: `proplet-${String(i).padStart(2, "0")}`,
    vector: Array.from({ length }, () => (r() - 0.5) * 6),
    weight: 1 + Math.floor(r() * (MAX_WEIGHT - 1)),
  }));
}

/** FedAvg in float64, computed independently of the library. */
function fedAvg(list: Update[]): { mean: number[]; weight: number } {
  const weight = list.reduce((s, u) => s + u.weight, 0);
  const mean = list[0]!.vector.map((_, i) => list.reduce((s, u) => s + u.weight * u.vector[i]!, 0) / weight);
  return { mean, weight };
}

interface Plan {
  /** Leave after advertising (never share keys). */
  leaveBeforeShare?: string[];
  /** Leave after sharing keys (never send a masked input). */
  leaveBeforeMask?: string[];
  /** Leave after the masked input (never answer the unmask request). */
  leaveBeforeUnmask?: string[];
}

async function runRound(params: SecAggParams, list: Update[], plan: Plan = {}): Promise<{ result: SecAggResult; aggregator: SecAggAggregator; maskedOf: Map<string, Uint32Array> }> {
  const aggregator = new SecAggAggregator(params, list.map((u) => u.id));
  const parts = new Map(list.map((u) => [u.id, new SecAggParticipant(u.id, params)]));
  for (const p of parts.values()) aggregator.addAdvertise(p.advertise());
  const roster = aggregator.closeAdvertise();
  for (const [id, p] of parts) if (!plan.leaveBeforeShare?.includes(id)) aggregator.addShareKeys(await p.shareKeys(roster));
  const maskedOf = new Map<string, Uint32Array>();
  for (const bundle of aggregator.closeShareKeys()) {
    if (plan.leaveBeforeMask?.includes(bundle.to)) continue;
    const u = list.find((x) => x.id === bundle.to)!;
    const masked = parts.get(u.id)!.maskedInput(bundle, u.vector, u.weight);
    maskedOf.set(u.id, decodeLanes(masked.lanes, params.length + 1)!);
    aggregator.addMaskedInput(masked);
  }
  const request = aggregator.closeMaskedInput();
  for (const id of request.survivors) if (!plan.leaveBeforeUnmask?.includes(id)) aggregator.addUnmask(parts.get(id)!.unmask(request));
  return { result: await aggregator.finish(), aggregator, maskedOf };
}

function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= n;
  mb /= n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i]! - ma, db = b[i]! - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  return sab / Math.sqrt(saa * sbb);
}

/** Per lane, the fixed-point sum is within n · 2^−(f+1) of the exact weighted sum. */
function expectWithinQuantization(result: SecAggResult, list: Update[], params: SecAggParams): void {
  const plain = fedAvg(list);
  expect(result.weight).toBe(plain.weight);
  const bound = (list.length * 2 ** -(params.fractionBits + 1)) / plain.weight;
  for (let i = 0; i < params.length; i++) expect(Math.abs(result.mean[i]! - plain.mean[i]!)).toBeLessThanOrEqual(bound);
}

/** Participants a, b and c of a 2-lane round, through key sharing: the state both tamper tests start from. */
async function threeThroughShareKeys() {
  const params = paramsFor(3, 2, 2);
  const aggregator = new SecAggAggregator(params, ["a", "b", "c"]);
  const parts = ["a", "b", "c"].map((id) => new SecAggParticipant(id, params));
  for (const p of parts) aggregator.addAdvertise(p.advertise());
  const roster = aggregator.closeAdvertise();
  for (const p of parts) aggregator.addShareKeys(await p.shareKeys(roster));
  return { aggregator, parts, bundles: aggregator.closeShareKeys() };
}

describe("secure aggregation (SecAgg)", () => {
  it("sums five participants' weighted updates to plain FedAvg within the quantization error", async () => {
    const list = updates(5, 31);
    const params = paramsFor(5, 3, 31);
    const { result } = await runRound(params, list);
    expect(result.survivors).toEqual(list.map((u) => u.id));
    expect(result.dropped).toEqual([]);
    expectWithinQuantization(result, list, params);
    // The bound is tight enough to mean something: an error of one unit per lane would break it.
    expect((5 * 2 ** -(params.fractionBits + 1)) / fedAvg(list).weight).toBeLessThan(1e-4);
  });

  it("survives participants that drop at each phase, while at least the threshold remain", async () => {
    const list = updates(8, 50, 7);
    const params = paramsFor(8, 4, 50);
    const plan = { leaveBeforeShare: ["proplet-01"], leaveBeforeMask: ["proplet-03", "proplet-06"], leaveBeforeUnmask: ["proplet-00"] };
    const { result } = await runRound(params, list, plan);
    const survivors = list.filter((u) => !["proplet-01", "proplet-03", "proplet-06"].includes(u.id));
    expect(result.survivors).toEqual(survivors.map((u) => u.id));
    expect(result.dropped).toEqual(["proplet-01", "proplet-03", "proplet-06"]);
    // proplet-00 sent its input and then left: its input is in the sum, its masks removed by the others' shares.
    expectWithinQuantization(result, survivors, params);
  });

  it("ends with a typed error when fewer than the threshold are left", async () => {
    const list = updates(5, 4);
    const params = paramsFor(5, 4, 4);
    await expect(runRound(params, list, { leaveBeforeMask: ["proplet-00", "proplet-01"] })).rejects.toMatchObject({ code: "secagg_too_few" });
    await expect(runRound(params, list, { leaveBeforeUnmask: ["proplet-00", "proplet-01"] })).rejects.toMatchObject({ code: "secagg_too_few" });
  });

  it("shows the aggregator a masked update uncorrelated with the plaintext one", async () => {
    const length = 20_000;
    const list = updates(3, length, 11);
    // A plaintext with strong structure: a ramp.
    list[0]!.vector = Array.from({ length }, (_, i) => -CLIP + (2 * CLIP * i) / length);
    const params = paramsFor(3, 2, length);
    const { result, maskedOf } = await runRound(params, list);
    expectWithinQuantization(result, list, params);
    const seen = maskedOf.get(list[0]!.id)!.subarray(0, length);
    const plaintext = list[0]!.vector;
    // Without the masks the lanes track the plaintext (so this measure can tell); with them, ~1/√n noise.
    const unmaskedLanes = Array.from(quantize(params, plaintext, list[0]!.weight).subarray(0, length), (x) => x | 0);
    expect(pearson(unmaskedLanes, plaintext)).toBeGreaterThan(0.99);
    expect(Math.abs(pearson(seen, plaintext))).toBeLessThan(0.05);
    // Nor does it leak through the top bits (the sign of a value): roughly half of the lanes have it set either way.
    const highBits = Array.from(seen, (x) => x >>> 31);
    expect(Math.abs(pearson(highBits, plaintext))).toBeLessThan(0.05);
  });

  it("refuses bad updates at the participant: wrong shape, NaN or infinity, weight out of bounds", async () => {
    const params = paramsFor(3, 2, 3);
    expect(() => quantize(params, [1, 2], 1)).toThrow(/2 values; this round takes 3/);
    expect(() => quantize(params, [1, Number.NaN, 2], 1)).toThrow(/value 1 .* NaN/);
    expect(() => quantize(params, [1, Number.POSITIVE_INFINITY, 2], 1)).toThrow(/Infinity/);
    expect(() => quantize(params, [1, 2, 3], 0)).toThrow(/weight/);
    expect(() => quantize(params, [1, 2, 3], MAX_WEIGHT + 1)).toThrow(/weight/);
  });

  it("refuses messages of another round, from non-participants, twice, or out of phase", async () => {
    const params = paramsFor(3, 2, 3);
    const aggregator = new SecAggAggregator(params, ["a", "b", "c"]);
    const a = new SecAggParticipant("a", params);
    const advert = a.advertise();
    aggregator.addAdvertise(advert);
    expect(() => aggregator.addAdvertise(advert)).toThrow(/already sent/);
    const replayed = new SecAggParticipant("b", { ...params, roundId: "exp-1/round-2" }).advertise();
    expect(() => aggregator.addAdvertise(replayed)).toThrow(/round exp-1\/round-2/);
    expect(() => aggregator.addAdvertise(new SecAggParticipant("mallory", params).advertise())).toThrow(/not a participant/);
    expect(() => aggregator.addAdvertise({ ...advert, from: "b", maskKey: "short" })).toThrow(expect.objectContaining({ code: "invalid_message" }));
    expect(() => aggregator.closeAdvertise()).toThrow(expect.objectContaining({ code: "secagg_too_few" }));
    expect(() => aggregator.addMaskedInput({ round: params.roundId, from: "a", lanes: "AAAA" })).toThrow(/during advertise/);
    expect(() => a.advertise()).toThrow(expect.objectContaining({ code: "secagg_wrong_phase" }));
  });

  it("a participant refuses an altered share, and answers one unmask request only", async () => {
    const { aggregator, parts, bundles } = await threeThroughShareKeys();
    const forA = bundles.find((b) => b.to === "a")!;
    const flipped = forA.shares[1]!.sealed;
    const altered = { ...forA, shares: forA.shares.map((s, i) => (i === 1 ? { ...s, sealed: (flipped[5] === "A" ? "B" : "A") + flipped.slice(1) } : s)) };
    expect(() => parts[0]!.maskedInput(altered, [0.5, 0.25], 3)).toThrow(/does not open/);
    // b and c go on; the round finishes without a.
    for (const p of parts.slice(1)) aggregator.addMaskedInput(p.maskedInput(bundles.find((b) => b.to === p.id)!, [1, -1], 2));
    const request = aggregator.closeMaskedInput();
    expect(request.survivors).toEqual(["b", "c"]);
    const answer = parts[1]!.unmask(request);
    expect(answer.maskKeyShares.map((s) => s.of)).toEqual(["a"]);
    expect(answer.selfMaskShares.map((s) => s.of)).toEqual(["b", "c"]);
    // Asked again with a (forged) smaller survivor set, it would reveal a survivor's mask key: it refuses.
    expect(() => parts[1]!.unmask({ ...request, survivors: ["b"] })).toThrow(expect.objectContaining({ code: "secagg_wrong_phase" }));
    aggregator.addUnmask(answer);
    aggregator.addUnmask(parts[2]!.unmask(request));
    const result = await aggregator.finish();
    expect(Array.from(result.mean)).toEqual([1, -1]);
    expect(result.weight).toBe(4);
  });

  it("detects an altered share at reconstruction", async () => {
    const { aggregator, parts, bundles } = await threeThroughShareKeys();
    for (const p of parts) aggregator.addMaskedInput(p.maskedInput(bundles.find((b) => b.to === p.id)!, [1, 1], 1));
    const request = aggregator.closeMaskedInput();
    const answer = parts[0]!.unmask(request);
    const share = Buffer.from(answer.selfMaskShares[1]!.share, "base64url");
    share[0] = share[0]! ^ 1;
    aggregator.addUnmask({ ...answer, selfMaskShares: answer.selfMaskShares.map((s, i) => (i === 1 ? { ...s, share: share.toString("base64url") } : s)) });
    aggregator.addUnmask(parts[1]!.unmask(request));
    await expect(aggregator.finish()).rejects.toMatchObject({ code: "secagg_reconstruction_failed" });
  });

  it("refuses parameters that would overflow 32 bits or cannot run", () => {
    const params = paramsFor(10, 6, 8);
    expect(() => checkParams(params, 10)).not.toThrow();
    expect(() => checkParams({ ...params, fractionBits: params.fractionBits + 1 }, 10)).toThrow(/would wrap/);
    expect(() => checkParams(params, 1)).toThrow(/2 to 255/);
    expect(() => checkParams(params, 256)).toThrow(/2 to 255/);
    expect(() => checkParams({ ...params, threshold: 11 }, 10)).toThrow(/threshold/);
    expect(() => checkParams({ ...params, threshold: 1 }, 10)).toThrow(/threshold/);
    expect(() => fractionBitsFor(255, 2 ** 24, 1000)).toThrow(/no precision/);
  });
});
