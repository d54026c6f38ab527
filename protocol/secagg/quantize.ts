/**
 * Fixed-point encoding of a weighted update in Uint32 lanes, and decoding of a sum of them.
 * Lane i carries round(weight · clip(x_i) · 2^f) mod 2^32; the last lane carries the weight, so
 * the sum yields FedAvg's numerator and denominator at once.
 */
import { SecAggError } from "./errors.js";
import type { SecAggParams } from "./params.js";

export function quantize(params: SecAggParams, vector: ArrayLike<number>, weight: number): Uint32Array {
  if (vector.length !== params.length) throw new SecAggError("secagg_bad_message", `the update has ${vector.length} values; this round takes ${params.length}`);
  if (!Number.isInteger(weight) || weight < 1 || weight > params.maxWeight) throw new SecAggError("secagg_bad_message", `weight must be an integer from 1 to ${params.maxWeight}, not ${weight}`);
  const scale = weight * 2 ** params.fractionBits;
  const out = new Uint32Array(params.length + 1);
  for (let i = 0; i < params.length; i++) {
    const x = vector[i]!;
    if (!Number.isFinite(x)) throw new SecAggError("secagg_bad_message", `value ${i} of the update is ${x}; only finite numbers can be aggregated`);
    const clipped = Math.max(-params.clip, Math.min(params.clip, x));
    out[i] = Math.round(clipped * scale) >>> 0;
  }
  out[params.length] = weight;
  return out;
}

/** The weighted sum and total weight carried by a sum of quantized lanes. */
export function dequantizeSum(params: SecAggParams, lanes: Uint32Array): { weightedSum: Float64Array; weight: number } {
  const unit = 2 ** params.fractionBits;
  const weightedSum = new Float64Array(params.length);
  for (let i = 0; i < params.length; i++) weightedSum[i] = (lanes[i]! | 0) / unit;
  return { weightedSum, weight: lanes[params.length]! };
}

/** In place: a += b (mod 2^32). */
export function addLanes(a: Uint32Array, b: Uint32Array): void {
  for (let i = 0; i < a.length; i++) a[i] = (a[i]! + b[i]!) >>> 0;
}

/** In place: a −= b (mod 2^32). */
export function subtractLanes(a: Uint32Array, b: Uint32Array): void {
  for (let i = 0; i < a.length; i++) a[i] = (a[i]! - b[i]!) >>> 0;
}
