/**
 * Placement: among live proplets that satisfy a task (runtime, tags, TEE, memory, artifact
 * source, a free slot, free memory), the least loaded one (spread) or the most loaded one that
 * still has room (pack); or the explicit target. Pure: no I/O.
 */
import type { PropletRecord, TaskSpec } from "../tasks/model.js";

export interface Candidate {
  proplet: PropletRecord;
  /** Runs currently holding a slot on it (scheduled or running). */
  load: number;
  /** Memory the limits of those runs reserve on it (bytes). */
  memoryUsed?: number;
}

export type PlacementStrategy = "spread" | "pack";

export type Placement = { propletId: string } | { reason: string };

/** Why a proplet cannot ever take this task (ignoring load), or null when it can. */
export function unfitReason(spec: TaskSpec, p: PropletRecord): string | null {
  const caps = p.capabilities;
  if (!caps.runtimes.includes(spec.runtime)) return `does not offer runtime ${spec.runtime}`;
  const missing = spec.requirements.tags.filter((t) => !caps.tags.includes(t));
  if (missing.length > 0) return `lacks tags [${missing.join(", ")}]`;
  if (spec.requirements.tee !== null && caps.tee?.type !== spec.requirements.tee) return `has no ${spec.requirements.tee} TEE`;
  if (caps.memoryBytes < spec.limits.memoryBytes) return `offers ${caps.memoryBytes} bytes of memory, the task needs ${spec.limits.memoryBytes}`;
  const source = spec.artifact.location;
  if (caps.artifactSources.length > 0 && !caps.artifactSources.includes(source)) return `cannot fetch ${source} artifacts`;
  return null;
}

function describeNeeds(spec: TaskSpec): string {
  const parts = [`runtime ${spec.runtime}`];
  if (spec.requirements.tags.length > 0) parts.push(`tags [${spec.requirements.tags.join(", ")}]`);
  if (spec.requirements.tee) parts.push(`a ${spec.requirements.tee} TEE`);
  parts.push(`${spec.limits.memoryBytes} bytes of memory`);
  return parts.join(" with ");
}

/** Why a live, fitting proplet cannot take the task right now, or null when it can. */
function busyReason(spec: TaskSpec, c: Candidate): string | null {
  const max = c.proplet.capabilities.maxConcurrency;
  if (c.load >= max) return `is busy (${c.load}/${max} runs)`;
  const free = c.proplet.capabilities.memoryBytes - (c.memoryUsed ?? 0);
  if (free < spec.limits.memoryBytes) return `has ${Math.max(0, free)} bytes of memory free, the task needs ${spec.limits.memoryBytes}`;
  return null;
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
    if (!target) return { reason: `target proplet ${targetId} is not live` };
    const unfit = unfitReason(spec, target.proplet);
    if (unfit) return { reason: `target proplet ${targetId} ${unfit}` };
    const busy = busyReason(spec, target);
    if (busy) return { reason: `target proplet ${targetId} ${busy}` };
    return { propletId: target.proplet.id };
  }
  if (live.length === 0) return { reason: `no live proplet offers ${describeNeeds(spec)} (no proplet is live)` };
  const fitting = live.filter((c) => unfitReason(spec, c.proplet) === null);
  if (fitting.length === 0) return { reason: `no live proplet offers ${describeNeeds(spec)}` };
  const free = fitting.filter((c) => busyReason(spec, c) === null);
  if (free.length === 0) {
    const full = fitting.every((c) => c.load >= c.proplet.capabilities.maxConcurrency);
    return { reason: `all ${fitting.length} matching proplet(s) are busy${full ? "" : " or lack free memory for the task"}` };
  }
  const share = (c: Candidate) => c.load / c.proplet.capabilities.maxConcurrency;
  const sign = options.strategy === "pack" ? -1 : 1;
  // spread: least loaded relative to capacity first; pack: most loaded first (fill before the next).
  // Then fewer/more runs; then id, so the choice is deterministic.
  free.sort((a, b) => sign * (share(a) - share(b)) || sign * (a.load - b.load) || a.proplet.id.localeCompare(b.proplet.id));
  return { propletId: free[0]!.proplet.id };
}
