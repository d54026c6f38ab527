/** An experiment as stored (fl_experiments.spec): the request with every default filled in. */
import type { ConfidentialSpec, TeeType } from "../../protocol/index.js";
import type { ArtifactInput, FlExperimentCreate } from "../../protocol/api/index.js";

export type Participants =
  | { kind: "explicit"; proplets: string[] }
  | { kind: "selector"; tags: string[]; tee: TeeType | null; min: number; fraction: number };

export interface FlExperimentSpec {
  workload: ArtifactInput;
  runtime: "wasi-p1" | "component";
  workloadDigest: string;
  confidential: ConfidentialSpec | null;
  shape: number[];
  rounds: number;
  participants: Participants;
  k: number;
  roundDeadlineMs: number;
  stragglers: "wait" | "close-at-k";
  dropouts: "keep" | "exclude";
  aggregation: "fedavg" | "secagg";
  /** Secure aggregation's parameters, defaults filled in (aggregation "secagg" only; absent on older rows). */
  secagg?: SecAggSpec | null;
  attested: boolean;
  tee: TeeType | null;
  args: string[];
  env: Record<string, string>;
  data: { volume: string; guest: string } | null;
  limits: { timeoutMs?: number; memoryBytes?: number };
}

export interface SecAggSpec {
  threshold: number;
  clip: number;
  maxSamples: number;
  stepTimeoutMs: number;
}

export function secaggOf(input: FlExperimentCreate): SecAggSpec {
  return {
    threshold: input.secagg?.threshold ?? Math.max(2, input.k),
    clip: input.secagg?.clip ?? 16,
    maxSamples: input.secagg?.maxSamples ?? 10_000,
    stepTimeoutMs: input.secagg?.stepTimeoutMs ?? 10_000,
  };
}

export function specOf(input: FlExperimentCreate, workloadDigest: string): FlExperimentSpec {
  const participants: Participants =
    "proplets" in input.participants
      ? { kind: "explicit", proplets: [...input.participants.proplets].sort() }
      : {
          kind: "selector",
          tags: input.participants.selector.tags ?? [],
          tee: input.participants.selector.tee ?? null,
          min: input.participants.min,
          fraction: input.participants.fraction ?? 1,
        };
  return {
    workload: input.workload,
    runtime: input.runtime ?? "component",
    workloadDigest,
    confidential: input.confidential ?? null,
    shape: input.model.shape,
    rounds: input.rounds,
    participants,
    k: input.k,
    roundDeadlineMs: input.roundDeadlineMs,
    stragglers: input.stragglers ?? "wait",
    dropouts: input.dropouts ?? "keep",
    aggregation: input.aggregation ?? "fedavg",
    secagg: input.aggregation === "secagg" ? secaggOf(input) : null,
    attested: input.attested ?? false,
    tee: input.confidential?.tee ?? null,
    args: input.args ?? [],
    env: input.env ?? {},
    data: input.data ? { volume: input.data.volume, guest: input.data.guest ?? "/data" } : null,
    limits: input.limits ?? {},
  };
}

/**
 * Who is invited to round `round`: the active participants, sorted by id; with a fraction below 1,
 * ceil(fraction × n) of them (at least k), a window that rotates by round so everyone takes part.
 */
export function invitedFor(active: readonly string[], fraction: number, k: number, round: number): string[] {
  const sorted = [...active].sort();
  if (fraction >= 1 || sorted.length === 0) return sorted;
  const count = Math.min(sorted.length, Math.max(k, Math.ceil(fraction * sorted.length)));
  const start = ((round - 1) * count) % sorted.length;
  return Array.from({ length: count }, (_, i) => sorted[(start + i) % sorted.length]!).sort();
}
