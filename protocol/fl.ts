/**
 * Federated learning's wire formats (docs/fl.md): the global model a participant's training run
 * reads on stdin, the update it writes on stdout, and the canonical encoding a model's digest is
 * taken over. Pure functions, no I/O: the manager, the CLI, tests and benchmarks share them.
 */
import { sha256Digest, type Digest } from "./digest.js";
import { canonicalJson } from "./jcs.js";
import { LIMITS } from "./limits.js";

export const FL_MODEL_FORMAT = "propeller-fl-model/1";
export const FL_UPDATE_FORMAT = "propeller-fl-update/1";

export interface FlModel {
  shape: number[];
  /** Row-major, float64. */
  weights: number[];
}

/** A participant's update, as parsed and checked. */
export interface FlUpdate extends FlModel {
  round: number;
  /** Digest of the global model this update was trained from. */
  baseModel: string;
  /** Local training examples the update was computed on (the FedAvg weight). */
  samples: number;
}

/**
 * The canonical encoding of a model: RFC 8785 JSON of {format, shape, weights}. JCS writes every
 * float64 in its shortest round-tripping form, so equal weights give equal bytes on every platform,
 * and the digest is stable. It is also the text a training run reads on stdin.
 */
export function encodeModel(model: FlModel): string {
  return canonicalJson({ format: FL_MODEL_FORMAT, shape: model.shape, weights: model.weights });
}

export function modelDigest(model: FlModel): Digest {
  return sha256Digest(encodeModel(model));
}

/** Product of the dimensions; NaN when a dimension is not a positive integer. */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 1) return NaN;
    n *= d;
  }
  return n;
}

/** Why an update (or a model) was refused: stable codes the round records. */
export type FlRejectCode =
  | "update_oversized"
  | "update_malformed"
  | "update_wrong_shape"
  | "update_not_finite"
  | "update_bad_samples"
  | "update_replayed"
  | "update_wrong_base";

export type FlCheck<T> = { ok: true; value: T } | { ok: false; code: FlRejectCode; reason: string };

/** A model (initial weights) is well formed: shape within bounds, weights match it, all finite. */
export function checkModel(model: FlModel): FlCheck<FlModel> {
  const size = shapeSize(model.shape);
  if (!Number.isFinite(size) || model.shape.length === 0 || model.shape.length > 4) return { ok: false, code: "update_wrong_shape", reason: "shape must be 1 to 4 positive integers" };
  if (size > LIMITS.flMaxParams) return { ok: false, code: "update_oversized", reason: `the model has ${size} parameters; at most ${LIMITS.flMaxParams}` };
  if (model.weights.length !== size) return { ok: false, code: "update_wrong_shape", reason: `${model.weights.length} weights for shape [${model.shape.join(",")}] (${size})` };
  const bad = model.weights.findIndex((w) => typeof w !== "number" || !Number.isFinite(w));
  if (bad >= 0) return { ok: false, code: "update_not_finite", reason: `weight ${bad} is not a finite number` };
  if (Buffer.byteLength(encodeModel(model)) > LIMITS.flModelBytes) return { ok: false, code: "update_oversized", reason: `the encoded model exceeds ${LIMITS.flModelBytes} bytes` };
  return { ok: true, value: model };
}

/**
 * Parses and checks one update (a run's stdout) against what the round expects: its format, the
 * round and base model it names (a replay of an earlier round's update names an earlier one), the
 * global model's shape, finite weights, a positive integer sample count, and the size bound.
 * Non-finite values cannot even be written in JSON, so "NaN" or "Infinity" text is malformed.
 */
export function parseUpdate(bytes: Uint8Array, expect: { round: number; baseModel: string; shape: readonly number[] }): FlCheck<FlUpdate> {
  if (bytes.byteLength > LIMITS.flUpdateBytes) return { ok: false, code: "update_oversized", reason: `the update is ${bytes.byteLength} bytes; at most ${LIMITS.flUpdateBytes}` };
  const text = Buffer.from(bytes).toString("utf8");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    const nonFinite = /\b(nan|inf|infinity)\b/i.test(text);
    return nonFinite
      ? { ok: false, code: "update_not_finite", reason: "the update holds NaN or infinite values" }
      : { ok: false, code: "update_malformed", reason: "the update is not JSON" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return { ok: false, code: "update_malformed", reason: "the update is not a JSON object" };
  const u = value as Record<string, unknown>;
  if (u.format !== FL_UPDATE_FORMAT) return { ok: false, code: "update_malformed", reason: `format must be "${FL_UPDATE_FORMAT}"` };
  if (!Number.isInteger(u.round)) return { ok: false, code: "update_malformed", reason: "round must be an integer" };
  if (u.round !== expect.round) return { ok: false, code: "update_replayed", reason: `the update is for round ${String(u.round)}, this is round ${expect.round}` };
  if (u.baseModel !== expect.baseModel) return { ok: false, code: "update_wrong_base", reason: `the update was trained from ${String(u.baseModel).slice(0, 80)}, not this round's model ${expect.baseModel}` };
  if (!Array.isArray(u.shape) || u.shape.length !== expect.shape.length || u.shape.some((d, i) => d !== expect.shape[i])) {
    return { ok: false, code: "update_wrong_shape", reason: `shape ${JSON.stringify(u.shape).slice(0, 80)}, the model's is [${expect.shape.join(",")}]` };
  }
  if (!Array.isArray(u.weights)) return { ok: false, code: "update_malformed", reason: "weights must be an array" };
  const size = shapeSize(expect.shape);
  if (u.weights.length !== size) return { ok: false, code: "update_wrong_shape", reason: `${u.weights.length} weights, the model has ${size}` };
  for (let i = 0; i < u.weights.length; i++) {
    const w = u.weights[i];
    if (typeof w !== "number" || !Number.isFinite(w)) return { ok: false, code: typeof w === "number" ? "update_not_finite" : "update_malformed", reason: `weight ${i} is not a finite number` };
  }
  if (!Number.isSafeInteger(u.samples) || (u.samples as number) < 1) return { ok: false, code: "update_bad_samples", reason: "samples must be a positive integer" };
  return { ok: true, value: { round: expect.round, baseModel: expect.baseModel, shape: [...expect.shape], weights: u.weights as number[], samples: u.samples as number } };
}

/** The update's digest: sha256 of its exact bytes (what the run's receipt names as stdout). */
export function updateDigest(bytes: Uint8Array): Digest {
  return sha256Digest(bytes);
}

export const FL_HELD_FORMAT = "propeller-fl-held/1";

/** A held update as the run reports it (the run's stdout with secure aggregation). */
export interface FlHeld {
  /** Digest of the update's exact bytes, which stay on the proplet. */
  update: string;
  bytes: number;
  /** The run's output was cut at its limit: the held update is incomplete. */
  truncated: boolean;
}

/**
 * With secure aggregation the proplet keeps a training run's update and reports, as the run's
 * stdout, only this canonical JSON naming the update's digest. The receipt's output digest covers
 * these bytes, so it binds the held update; the update itself reaches the manager only masked.
 */
export function encodeHeld(update: Uint8Array, truncated: boolean): Uint8Array {
  return Buffer.from(canonicalJson({ format: FL_HELD_FORMAT, update: updateDigest(update), bytes: update.byteLength, truncated }), "utf8");
}

export function parseHeld(bytes: Uint8Array): FlCheck<FlHeld> {
  const bad = (reason: string): FlCheck<FlHeld> => ({ ok: false, code: "update_malformed", reason });
  if (bytes.byteLength > 1024) return bad("the held-update report exceeds 1024 bytes");
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    return bad("the run's output is not a held-update report (is the update sent in the clear?)");
  }
  const h = v as Record<string, unknown>;
  if (typeof v !== "object" || v === null || h.format !== FL_HELD_FORMAT) return bad(`the run's output is not a "${FL_HELD_FORMAT}" report`);
  if (typeof h.update !== "string" || !/^sha256:[0-9a-f]{64}$/.test(h.update)) return bad("the held-update report names no sha256 digest");
  if (!Number.isSafeInteger(h.bytes) || (h.bytes as number) < 0) return bad("the held-update report's size is not a non-negative integer");
  if (typeof h.truncated !== "boolean") return bad("the held-update report's truncated flag is not a boolean");
  if (h.truncated || (h.bytes as number) > LIMITS.flUpdateBytes) return { ok: false, code: "update_oversized", reason: `the held update (${String(h.bytes)} bytes) exceeds the output limit` };
  return { ok: true, value: { update: h.update, bytes: h.bytes as number, truncated: false } };
}
