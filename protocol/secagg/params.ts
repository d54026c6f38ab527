/**
 * Parameters of one secure-aggregation round, and the fixed-point bound they must respect.
 *
 * Arithmetic is modulo 2^32 (Uint32 lanes). A participant sends weight·clip(x)·2^fractionBits,
 * rounded, and its weight; the sum of n of them, read as a signed 32-bit integer, must not wrap,
 * so n · maxWeight · clip · 2^fractionBits < 2^31. {@link fractionBitsFor} picks the largest
 * precision that fits.
 */
import { SecAggError } from "./errors.js";

/** Shamir over GF(2^8) (the shamir-secret-sharing library) takes at most 255 shares. */
export const SECAGG_MAX_PARTICIPANTS = 255;
/** A vector longer than this is refused (4 bytes a lane: 64 MiB of masked input per participant). */
export const SECAGG_MAX_LENGTH = 16 * 1024 * 1024;

export interface SecAggParams {
  /** Binds every key, share and mask to this round: a message of another round does not verify. */
  roundId: string;
  /** Shares needed to rebuild a secret: the round survives up to n − threshold dropouts. */
  threshold: number;
  /** Lanes of the update vector (the model's parameters). */
  length: number;
  /** Each value is clipped to [−clip, clip] before it is quantized. */
  clip: number;
  /** The largest weight (sample count) a participant may declare. */
  maxWeight: number;
  /** Fixed-point precision: a value is carried as round(weight · x · 2^fractionBits). */
  fractionBits: number;
}

/** The largest precision at which n participants of at most maxWeight and |x| ≤ clip cannot wrap. */
export function fractionBitsFor(participants: number, maxWeight: number, clip: number): number {
  const headroom = 2 ** 31 / (participants * maxWeight * clip);
  const bits = Math.floor(Math.log2(headroom));
  if (!Number.isFinite(bits) || bits < 1) {
    throw new SecAggError("secagg_bad_params", `${participants} participants of weight up to ${maxWeight} with values clipped to ${clip} leave no precision in 32 bits; lower maxWeight or clip`);
  }
  return Math.min(bits, 30);
}

/** Refuses a parameter set for `participants` that could not run or would overflow. */
export function checkParams(params: SecAggParams, participants: number): void {
  const bad = (why: string) => new SecAggError("secagg_bad_params", why, { roundId: params.roundId });
  if (typeof params.roundId !== "string" || params.roundId.length < 1 || params.roundId.length > 256) throw bad("roundId must be 1 to 256 characters");
  if (!Number.isInteger(participants) || participants < 2 || participants > SECAGG_MAX_PARTICIPANTS) throw bad(`a round needs 2 to ${SECAGG_MAX_PARTICIPANTS} participants, not ${participants}`);
  if (!Number.isInteger(params.threshold) || params.threshold < 2 || params.threshold > participants) throw bad(`threshold must be an integer from 2 to the ${participants} participants, not ${params.threshold}`);
  if (!Number.isInteger(params.length) || params.length < 1 || params.length > SECAGG_MAX_LENGTH) throw bad(`length must be 1 to ${SECAGG_MAX_LENGTH} lanes`);
  if (!(params.clip > 0) || !Number.isFinite(params.clip)) throw bad("clip must be a positive finite number");
  if (!Number.isInteger(params.maxWeight) || params.maxWeight < 1) throw bad("maxWeight must be a positive integer");
  if (!Number.isInteger(params.fractionBits) || params.fractionBits < 0 || params.fractionBits > 30) throw bad("fractionBits must be an integer from 0 to 30");
  if (participants * params.maxWeight * params.clip * 2 ** params.fractionBits >= 2 ** 31) {
    throw bad(`${participants} × maxWeight ${params.maxWeight} × clip ${params.clip} × 2^${params.fractionBits} reaches 2^31: the sum would wrap; use fractionBits ≤ ${fractionBitsFor(participants, params.maxWeight, params.clip)}`);
  }
}
