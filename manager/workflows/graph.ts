/**
 * The workflow graph, checked at submission: unique node names, known dependencies, no cycle.
 * And the rule that decides what a waiting node does once its parents finished. Pure: no I/O.
 */
import { InvalidRequestError } from "../errors.js";

export type RunIf = "success" | "failure" | "always";
export type OnFailure = "skip-dependants" | "fail-dependants";
export type NodeState = "waiting" | "running" | "completed" | "failed" | "stopped" | "skipped";
export const TERMINAL_NODE_STATES: readonly NodeState[] = ["completed", "failed", "stopped", "skipped"];

export interface GraphNode {
  name: string;
  dependsOn: string[];
}

/** Refuses duplicate names, unknown or repeated dependencies, and cycles (naming one). Returns a topological order. */
export function checkGraph(nodes: readonly GraphNode[]): string[] {
  const names = new Set<string>();
  for (const n of nodes) {
    if (names.has(n.name)) throw new InvalidRequestError("invalid_workflow", `two nodes are named "${n.name}"; node names must be unique`);
    names.add(n.name);
  }
  for (const n of nodes) {
    if (new Set(n.dependsOn).size !== n.dependsOn.length) throw new InvalidRequestError("invalid_workflow", `node "${n.name}" lists a dependency twice`);
    for (const d of n.dependsOn) {
      if (!names.has(d)) throw new InvalidRequestError("invalid_workflow", `node "${n.name}" depends on "${d}", which is not a node of this workflow`);
    }
  }
  // Kahn: repeatedly take nodes whose dependencies are all taken; what remains holds a cycle.
  const order: string[] = [];
  const taken = new Set<string>();
  let progress = true;
  while (progress) {
    progress = false;
    for (const n of nodes) {
      if (taken.has(n.name) || !n.dependsOn.every((d) => taken.has(d))) continue;
      taken.add(n.name);
      order.push(n.name);
      progress = true;
    }
  }
  if (order.length < nodes.length) {
    const left = nodes.filter((n) => !taken.has(n.name));
    throw new InvalidRequestError("workflow_cycle", `the dependencies form a cycle through ${describeCycle(left)}; a workflow must be acyclic`);
  }
  return order;
}

/** One cycle among the nodes left by Kahn's algorithm, as "a → b → a". */
function describeCycle(left: readonly GraphNode[]): string {
  const byName = new Map(left.map((n) => [n.name, n]));
  const path: string[] = [];
  let current: GraphNode | undefined = left[0];
  while (current && !path.includes(current.name)) {
    path.push(current.name);
    current = current.dependsOn.map((d) => byName.get(d)).find((n): n is GraphNode => n !== undefined);
  }
  if (current) path.push(current.name);
  return path.slice(path.indexOf(path[path.length - 1]!)).join(" → ");
}

export interface ParentOutcome {
  name: string;
  state: NodeState;
  onFailure: OnFailure;
}

/**
 * What a waiting node does when every parent has finished: start, or end without running —
 * skipped, or failed when a parent that failed declared fail-dependants.
 *   success: all parents completed.  failure: some parent failed.  always: regardless.
 */
export function decide(runIf: RunIf, parents: readonly ParentOutcome[]): { action: "start" } | { action: "skipped" | "failed"; reason: string } {
  const failed = parents.filter((p) => p.state === "failed");
  const met =
    runIf === "always" ? true : runIf === "failure" ? failed.length > 0 : parents.every((p) => p.state === "completed");
  if (met) return { action: "start" };
  const failing = failed.find((p) => p.onFailure === "fail-dependants");
  if (failing) return { action: "failed", reason: `dependency "${failing.name}" failed and fails its dependants` };
  const why =
    runIf === "failure"
      ? "no dependency failed (run_if failure)"
      : `dependencies ${parents.filter((p) => p.state !== "completed").map((p) => `"${p.name}" ${p.state}`).join(", ")} (run_if success)`;
  return { action: "skipped", reason: why };
}
