/**
 * Placement: among live proplets that satisfy a task (runtime, tags, TEE, memory, artifact
 * source, a free slot, free memory), the least loaded one (spread) or the most loaded one that
 * still has room (pack); or the explicit target. Pure: no I/O.
 *
 * Shaped like Nomad's scheduler: each check is named and returns why a proplet fails it; a task
 * that is not placed gets one answer (the pending reason) plus every proplet's named refusal,
 * counted per check, so an operator sees "3 lack the runtime, 1 is busy" instead of guessing.
 */
import { teeSatisfies } from "../../protocol/index.js";
import type { PropletRecord, TaskSpec } from "../tasks/model.js";

export interface Candidate {
  proplet: PropletRecord;
  /** Runs currently holding a slot on it (scheduled or running). */
  load: number;
  /** Memory the limits of those runs reserve on it (bytes). */
  memoryUsed?: number;
}

export type PlacementStrategy = "spread" | "pack";

/** Checks that hold whatever the load: a proplet failing one can never take the task. */
export type FeasibilityCheck = "runtime" | "tags" | "tee" | "memory" | "artifact-source";
/** Checks of the moment: a proplet failing one could take the task once runs finish. */
export type CapacityCheck = "slots" | "free-memory";
export type PlacementCheck = FeasibilityCheck | CapacityCheck | "liveness";

/** One proplet's refusal of a task, by the check that refused it. */
export interface Refusal {
  propletId: string;
  check: PlacementCheck;
  /** Reads after the proplet id: "does not offer runtime component". */
  detail: string;
}

export type Placement = { propletId: string } | { reason: string; refusals: Refusal[] };

type Check<Name, Subject> = { name: Name; refuse(spec: TaskSpec, subject: Subject): string | null };

/** In the order they are reported: the first failing one is a proplet's refusal. */
const FEASIBILITY: ReadonlyArray<Check<FeasibilityCheck, PropletRecord>> = [
  { name: "runtime", refuse: (spec, p) => (p.capabilities.runtimes.includes(spec.runtime) ? null : `does not offer runtime ${spec.runtime}`) },
  {
    name: "tags",
    refuse: (spec, p) => {
      const missing = spec.requirements.tags.filter((t) => !p.capabilities.tags.includes(t));
      return missing.length > 0 ? `lacks tags [${missing.join(", ")}]` : null;
    },
  },
  { name: "tee", refuse: (spec, p) => (spec.requirements.tee !== null && !teeSatisfies(spec.requirements.tee, p.capabilities.tee?.type) ? `has no ${spec.requirements.tee} TEE` : null) },
  {
    name: "memory",
    refuse: (spec, p) =>
      p.capabilities.memoryBytes < spec.limits.memoryBytes ? `offers ${p.capabilities.memoryBytes} bytes of memory, the task needs ${spec.limits.memoryBytes}` : null,
  },
  {
    name: "artifact-source",
    refuse: (spec, p) => {
      const sources = p.capabilities.artifactSources;
      return sources.length > 0 && !sources.includes(spec.artifact.location) ? `cannot fetch ${spec.artifact.location} artifacts` : null;
    },
  },
];

const CAPACITY: ReadonlyArray<Check<CapacityCheck, Candidate>> = [
  {
    name: "slots",
    refuse: (_spec, c) => {
      const max = c.proplet.capabilities.maxConcurrency;
      return c.load >= max ? `is busy (${c.load}/${max} runs)` : null;
    },
  },
  {
    name: "free-memory",
    refuse: (spec, c) => {
      const free = c.proplet.capabilities.memoryBytes - (c.memoryUsed ?? 0);
      return free < spec.limits.memoryBytes ? `has ${Math.max(0, free)} bytes of memory free, the task needs ${spec.limits.memoryBytes}` : null;
    },
  },
];

function firstRefusal<Name extends PlacementCheck, Subject>(checks: ReadonlyArray<Check<Name, Subject>>, spec: TaskSpec, subject: Subject, propletId: string): Refusal | null {
  for (const check of checks) {
    const detail = check.refuse(spec, subject);
    if (detail !== null) return { propletId, check: check.name, detail };
  }
  return null;
}

/** Why a proplet can never take this task (ignoring load), or null when it can. */
export function feasibilityRefusal(spec: TaskSpec, p: PropletRecord): Refusal | null {
  return firstRefusal(FEASIBILITY, spec, p, p.id);
}

/** Why a proplet cannot ever take this task (ignoring load), as text, or null when it can. */
export function unfitReason(spec: TaskSpec, p: PropletRecord): string | null {
  return feasibilityRefusal(spec, p)?.detail ?? null;
}

/** Why a live, fitting proplet cannot take the task right now, or null when it can. */
function capacityRefusal(spec: TaskSpec, c: Candidate): Refusal | null {
  return firstRefusal(CAPACITY, spec, c, c.proplet.id);
}

/** "runtime: 2, busy: 1" — the refusals counted per check, in check order (Nomad's "filtered N nodes"). */
export function summarizeRefusals(refusals: readonly Refusal[]): string {
  const counts = new Map<PlacementCheck, number>();
  for (const r of refusals) counts.set(r.check, (counts.get(r.check) ?? 0) + 1);
  const order: PlacementCheck[] = ["liveness", ...FEASIBILITY.map((c) => c.name), ...CAPACITY.map((c) => c.name)];
  return order.flatMap((name) => (counts.has(name) ? [`${name}: ${counts.get(name)}`] : [])).join(", ");
}

function describeNeeds(spec: TaskSpec): string {
  const parts = [`runtime ${spec.runtime}`];
  if (spec.requirements.tags.length > 0) parts.push(`tags [${spec.requirements.tags.join(", ")}]`);
  if (spec.requirements.tee) parts.push(`a ${spec.requirements.tee} TEE`);
  parts.push(`${spec.limits.memoryBytes} bytes of memory`);
  return parts.join(" with ");
}

export function choosePlacement(
  spec: TaskSpec,
  candidates: readonly Candidate[],
  options: { strategy?: PlacementStrategy; target?: string | null } = {},
): Placement {
  const live = candidates.filter((c) => c.proplet.alive);
  const targetId = options.target !== undefined && options.target !== null ? options.target : spec.target;
  if (targetId !== null) {
    const target = live.find((c) => c.proplet.id === targetId);
    if (!target) return { reason: `target proplet ${targetId} is not live`, refusals: [{ propletId: targetId, check: "liveness", detail: "is not live" }] };
    const refusal = feasibilityRefusal(spec, target.proplet) ?? capacityRefusal(spec, target);
    if (refusal) return { reason: `target proplet ${targetId} ${refusal.detail}`, refusals: [refusal] };
    return { propletId: target.proplet.id };
  }
  if (live.length === 0) return { reason: `no live proplet offers ${describeNeeds(spec)} (no proplet is live)`, refusals: [] };
  const refusals: Refusal[] = [];
  const fitting: Candidate[] = [];
  for (const c of live) {
    const refusal = feasibilityRefusal(spec, c.proplet);
    if (refusal) refusals.push(refusal);
    else fitting.push(c);
  }
  if (fitting.length === 0) return { reason: `no live proplet offers ${describeNeeds(spec)}`, refusals };
  const free: Candidate[] = [];
  for (const c of fitting) {
    const refusal = capacityRefusal(spec, c);
    if (refusal) refusals.push(refusal);
    else free.push(c);
  }
  if (free.length === 0) {
    const full = fitting.every((c) => c.load >= c.proplet.capabilities.maxConcurrency);
    return { reason: `all ${fitting.length} matching proplet(s) are busy${full ? "" : " or lack free memory for the task"}`, refusals };
  }
  const share = (c: Candidate) => c.load / c.proplet.capabilities.maxConcurrency;
  const sign = options.strategy === "pack" ? -1 : 1;
  // spread: least loaded relative to capacity first; pack: most loaded first (fill before the next).
  // Then fewer/more runs; then id, so the choice is deterministic.
  free.sort((a, b) => sign * (share(a) - share(b)) || sign * (a.load - b.load) || a.proplet.id.localeCompare(b.proplet.id));
  return { propletId: free[0]!.proplet.id };
}
