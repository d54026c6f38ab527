/**
 * Advances running workflows: a node whose task finished takes its outcome; a waiting node whose
 * parents all finished starts (its task gets the parents' results as stdin or arguments) or ends
 * without running, as `run_if` and the parents' `on_failure` say; a workflow whose nodes all
 * finished ends. Each workflow is claimed FOR UPDATE SKIP LOCKED and advanced in one transaction,
 * so two managers never start a node twice.
 */
import type { SqlExecutor } from "../../db/index.js";
import type { ManagerContext } from "../context.js";
import { LIMITS } from "../../protocol/index.js";
import * as runStore from "../store/runs.js";
import * as taskStore from "../store/tasks.js";
import { queueRun } from "../tasks/transitions.js";
import { TERMINAL_NODE_STATES, decide, type NodeState } from "./graph.js";
import * as store from "./store.js";

const BATCH = 50;
/** Parents' output handed to a child on stdin, in all. */
export const PASS_STDIN_BYTES = 64 * 1024;
/** One parent's output handed to a child as one argument. */
export const PASS_ARG_BYTES = LIMITS.argBytes;

/** Advances every running workflow it can claim; true when some node was started. */
export async function advanceWorkflows(ctx: ManagerContext): Promise<boolean> {
  const now = ctx.now();
  let started = 0;
  await ctx.db.transaction(async (tx) => {
    for (const wf of await store.claimRunning(tx, BATCH)) started += await advanceOne(tx, wf, now);
  });
  if (started > 0) ctx.events.emit({ type: "task.runnable" });
  return started > 0;
}

async function advanceOne(tx: SqlExecutor, wf: store.WorkflowRecord, now: Date): Promise<number> {
  const nodes = await store.listNodes(tx, wf.id);
  const byName = new Map(nodes.map((n) => [n.name, n]));
  let started = 0;
  let changed = true;
  while (changed) {
    changed = false;
    for (const node of nodes) {
      if (node.state === "running") {
        const task = node.taskId ? await taskStore.getTask(tx, node.taskId) : null;
        const outcome: NodeState | null = !task ? "failed" : task.state === "completed" || task.state === "failed" || task.state === "stopped" ? task.state : null;
        if (!outcome) continue;
        node.state = outcome;
        node.finishedAt = now;
        node.reason = task ? null : "its task was deleted";
        await store.setNodeState(tx, wf.id, node.name, { state: outcome, reason: node.reason, finishedAt: now });
        changed = true;
      } else if (node.state === "waiting") {
        const parents = node.dependsOn.map((d) => byName.get(d)!);
        if (!parents.every((p) => TERMINAL_NODE_STATES.includes(p.state))) continue;
        const verdict = decide(node.runIf, parents);
        changed = true;
        if (verdict.action !== "start") {
          node.state = verdict.action;
          node.reason = verdict.reason;
          await store.setNodeState(tx, wf.id, node.name, { state: verdict.action, reason: verdict.reason, finishedAt: now });
          continue;
        }
        const task = node.taskId ? await taskStore.getTask(tx, node.taskId, { forUpdate: true }) : null;
        if (!task) {
          node.state = "failed";
          node.reason = "its task was deleted";
          await store.setNodeState(tx, wf.id, node.name, { state: "failed", reason: node.reason, finishedAt: now });
          continue;
        }
        if (node.passResults !== "none" && parents.length > 0) {
          const outputs: Buffer[] = [];
          for (const p of parents) {
            const run = p.taskId ? await runStore.latestFinishedRun(tx, p.taskId) : null;
            outputs.push(run?.result ? Buffer.from(run.result.stdout, "base64") : Buffer.alloc(0));
          }
          const spec = { ...task.spec };
          if (node.passResults === "stdin") {
            const own = Buffer.from(spec.stdin, "base64");
            spec.stdin = Buffer.concat([own, ...outputs]).subarray(0, own.length + PASS_STDIN_BYTES).toString("base64");
          } else {
            spec.args = [...spec.args, ...outputs.map(asArgument)].slice(0, LIMITS.args);
          }
          await taskStore.updateTaskSpec(tx, task.id, task.name, spec, now);
        }
        const fresh = (await taskStore.getTask(tx, task.id))!;
        await queueRun(tx, fresh, now, `started by ${wf.kind} ${wf.id} (node ${node.name})`);
        node.state = "running";
        node.startedAt = now;
        await store.setNodeState(tx, wf.id, node.name, { state: "running", startedAt: now });
        started++;
      }
    }
  }
  if (nodes.every((n) => TERMINAL_NODE_STATES.includes(n.state))) {
    const failed = nodes.find((n) => n.state === "failed");
    const stopped = nodes.find((n) => n.state === "stopped");
    const state = failed ? "failed" : stopped ? "stopped" : "completed";
    const reason = failed ? `node "${failed.name}" failed${failed.reason ? `: ${failed.reason}` : ""}` : stopped ? `node "${stopped.name}" was stopped` : null;
    await store.setWorkflowState(tx, wf.id, { state, reason, now, finishedAt: now });
  } else if (changed || started > 0) {
    await store.setWorkflowState(tx, wf.id, { state: "running", now });
  }
  return started;
}

/** A parent's stdout as one argument: UTF-8, trailing newline dropped, at most PASS_ARG_BYTES. */
function asArgument(output: Buffer): string {
  let text = output.subarray(0, PASS_ARG_BYTES).toString("utf8").replace(/\n$/, "");
  while (Buffer.byteLength(text) > PASS_ARG_BYTES) text = text.slice(0, -1);
  return text;
}
