/**
 * Placement: among live proplets that satisfy a task (runtime, tags, TEE, memory, artifact
 * source, a free slot), the least loaded one; or the explicit target. Pure: no I/O.
 */
import type { PropletRecord, TaskSpec } from "../tasks/model.js";

export interface Candidate {
  proplet: PropletRecord;
  /** Runs currently holding a slot on it (scheduled or running). */
  load: number;
}

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

export function choosePlacement(spec: TaskSpec, candidates: readonly Candidate[]): Placement {
  const live = candidates.filter((c) => c.proplet.alive);
  if (spec.target !== null) {
    const target = live.find((c) => c.proplet.id === spec.target);
    if (!target) return { reason: `target proplet ${spec.target} is not live` };
    const unfit = unfitReason(spec, target.proplet);
    if (unfit) return { reason: `target proplet ${spec.target} ${unfit}` };
    const max = target.proplet.capabilities.maxConcurrency;
    if (target.load >= max) return { reason: `target proplet ${spec.target} is busy (${target.load}/${max} runs)` };
    return { propletId: target.proplet.id };
  }
  if (live.length === 0) return { reason: `no live proplet offers ${describeNeeds(spec)} (no proplet is live)` };
  const fitting = live.filter((c) => unfitReason(spec, c.proplet) === null);
  if (fitting.length === 0) return { reason: `no live proplet offers ${describeNeeds(spec)}` };
  const free = fitting.filter((c) => c.load < c.proplet.capabilities.maxConcurrency);
  if (free.length === 0) return { reason: `all ${fitting.length} matching proplet(s) are busy` };
  // Least loaded relative to capacity; then fewest runs; then id, so the choice is deterministic.
  free.sort(
    (a, b) =>
      a.load / a.proplet.capabilities.maxConcurrency - b.load / b.proplet.capabilities.maxConcurrency ||
      a.load - b.load ||
      a.proplet.id.localeCompare(b.proplet.id),
  );
  return { propletId: free[0]!.proplet.id };
}
