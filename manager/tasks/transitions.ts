/**
 * Applies run state changes, always through the state machine (state.ts), and keeps the task's
 * state mirroring its latest run. Locks the task row first, then changes the run conditionally,
 * so concurrent handlers and managers cannot both apply a change.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { SqlExecutor } from "../../db/index.js";
import * as runStore from "../store/runs.js";
import * as taskStore from "../store/tasks.js";
import { traceQueuedRun } from "../telemetry/tracing.js";
import type { RetryPolicy, RunRecord, StoredResult, TaskRecord } from "./model.js";
import { assertRunTransition, assertTaskTransition, taskStateForGroup, taskStateForRun, type RunState } from "./state.js";

export const WAITING_REASON = "waiting for the scheduler";

/**
 * Moves `run` from its current state to `to`. Returns the updated run, or null when the run had
 * already changed (another handler or manager won the race). Throws IllegalTransitionError when
 * the state machine forbids the move.
 */
export async function transitionRun(
  tx: SqlExecutor,
  run: RunRecord,
  to: RunState,
  change: Omit<runStore.RunChange, "state">,
  now: Date,
  /**
   * retry: false when the caller queues the next run itself (reschedule on proplet loss).
   * lockedTask: the run's task, already locked FOR UPDATE by the caller in this transaction (the
   * scheduler's claim locks both), so it is not read again.
   */
  options: { expectedProplet?: string | null; retry?: boolean; lockedTask?: TaskRecord } = {},
): Promise<RunRecord | null> {
  assertRunTransition(run.id, run.state, to);
  const task = options.lockedTask ?? (await taskStore.getTask(tx, run.taskId, { forUpdate: true }));
  const updated = await runStore.updateRunIf(tx, run.id, run.state, { ...change, state: to }, options.expectedProplet);
  if (!updated || !task) return updated;
  await mirrorTask(tx, task, updated, now);
  if (to === "failed" && options.retry !== false) await retryIfAsked(tx, task, updated, now);
  return updated;
}

/**
 * `transitionRun(…, "scheduled", …)` for a whole scheduling pass in two statements: the queued runs
 * (and their tasks) were locked by the caller's claim. Broadcast runs take the one-by-one path,
 * since their task's state is the aggregate of the fan-out. Returns the runs now scheduled.
 */
export async function scheduleRuns(
  tx: SqlExecutor,
  items: ReadonlyArray<{ run: RunRecord; task: TaskRecord; propletId: string }>,
  now: Date,
): Promise<RunRecord[]> {
  const single = items.filter((i) => i.run.groupId === null);
  for (const { run } of single) assertRunTransition(run.id, run.state, "scheduled");
  const scheduled = await runStore.scheduleQueuedRuns(tx, single.map((i) => ({ runId: i.run.id, propletId: i.propletId })), now);
  const byId = new Map(single.map((i) => [i.run.id, i.task]));
  const moved: string[] = [];
  for (const run of scheduled) {
    const task = byId.get(run.id)!;
    if (task.latestRunId !== run.id) continue; // an older run does not move the task
    const next = taskStateForRun(run.state);
    if (next === task.state) continue;
    assertTaskTransition(task.id, task.state, next);
    moved.push(task.id);
  }
  await taskStore.setTasksState(tx, moved, taskStateForRun("scheduled"), now);
  for (const { run, task, propletId } of items) {
    if (run.groupId === null) continue;
    const one = await transitionRun(tx, run, "scheduled", { propletId, deliveries: 1, dispatchedAt: now, lastDeliveryAt: now }, now, { lockedTask: task });
    if (one) scheduled.push(one);
  }
  return scheduled;
}

async function mirrorTask(tx: SqlExecutor, task: TaskRecord, run: RunRecord, now: Date): Promise<void> {
  if (run.groupId !== null) return mirrorGroup(tx, task, run, now);
  if (task.latestRunId !== run.id) return; // an older run finishing late does not move the task
  const next = taskStateForRun(run.state);
  if (next !== task.state) assertTaskTransition(task.id, task.state, next);
  await taskStore.setTaskState(tx, task.id, { state: next, pendingReason: next === "pending" ? WAITING_REASON : null, now });
}

/** A broadcast run moved: the task's state is the aggregate of its latest fan-out. */
async function mirrorGroup(tx: SqlExecutor, task: TaskRecord, run: RunRecord, now: Date): Promise<void> {
  const latest = task.latestRunId ? await runStore.getRun(tx, task.latestRunId) : null;
  if (!latest || latest.groupId !== run.groupId) return; // an older fan-out does not move the task
  const next = taskStateForGroup((await runStore.groupRuns(tx, run.groupId!)).map((r) => r.state));
  if (next === task.state) return;
  assertTaskTransition(task.id, task.state, next);
  await taskStore.setTaskState(tx, task.id, { state: next, pendingReason: next === "pending" ? WAITING_REASON : null, now });
}

/** The wait before try `tryNumber + 1`: backoffMs doubled per earlier retry, at most maxBackoffMs. */
export function retryDelayMs(policy: RetryPolicy, tryNumber: number): number {
  return Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** Math.min(30, tryNumber - 1));
}

/**
 * A failed latest run of a task that asks for retries, with tries left, gets a new run (attempt + 1,
 * try + 1) that the scheduler will not place before its backoff ends. In the same transaction as
 * the failure, so one manager retries it exactly once.
 */
async function retryIfAsked(tx: SqlExecutor, task: TaskRecord, run: RunRecord, now: Date): Promise<void> {
  const policy = task.spec.retry;
  if (!policy || run.groupId !== null || task.latestRunId !== run.id || run.tryNumber >= policy.maxAttempts) return;
  const delay = retryDelayMs(policy, run.tryNumber);
  const failed = (await taskStore.getTask(tx, task.id))!;
  await queueRun(tx, failed, now, `retry ${run.tryNumber + 1} of ${policy.maxAttempts} after ${delay} ms backoff`, {
    notBefore: new Date(now.getTime() + delay),
    tryNumber: run.tryNumber + 1,
  });
}

/** A fresh receipt nonce: 32 random bytes, base64url (TaskStart.receiptNonce). */
export function newReceiptNonce(): string {
  return randomBytes(32).toString("base64url");
}

/**
 * Queues a new run of a (locked) task: attempt = previous + 1; the task becomes pending with it as
 * its latest run. The caller has checked that the task may start.
 */
export async function queueRun(
  tx: SqlExecutor,
  task: TaskRecord,
  now: Date,
  pendingReason = WAITING_REASON,
  options: { notBefore?: Date | null; tryNumber?: number } = {},
): Promise<RunRecord> {
  assertTaskTransition(task.id, task.state, "pending");
  const attempt = (await runStore.maxAttempt(tx, task.id)) + 1;
  const run = await runStore.insertRun(tx, { id: randomUUID(), taskId: task.id, attempt, receiptNonce: newReceiptNonce(), now, ...options });
  await taskStore.setTaskState(tx, task.id, { state: "pending", latestRunId: run.id, pendingReason, now });
  traceQueuedRun(run);
  return run;
}

/** The stored result of a run the manager ended itself (no output; the reason as its error). */
export function managerResult(code: string, message: string): StoredResult {
  return {
    exitCode: null,
    returnValues: null,
    stdout: "",
    stderr: "",
    stdoutTruncated: false,
    stderrTruncated: false,
    error: { code, message: message.slice(0, 4096) },
  };
}
