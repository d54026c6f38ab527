/**
 * The task and run state machine, in exactly one place. Every state change of a run (and so of its
 * task) is checked here first; anything else is an IllegalTransitionError (HTTP 409).
 *
 * A task's state follows its latest run:
 *   no run / queued → pending; scheduled → scheduled; running → running; a finished run → its outcome.
 */
import { ConflictError } from "../errors.js";
import { RUN_STATE_VALUES, TASK_STATE_VALUES } from "../../protocol/api/index.js";

// The states are part of the REST contract (protocol/api); the rules between them live here.
export const TASK_STATES = TASK_STATE_VALUES;
export type TaskState = (typeof TASK_STATES)[number];

export const RUN_STATES = RUN_STATE_VALUES;
export type RunState = (typeof RUN_STATES)[number];

export const TERMINAL_RUN_STATES: readonly RunState[] = ["completed", "failed", "stopped"];
export const ACTIVE_RUN_STATES: readonly RunState[] = ["scheduled", "running"];

/**
 * Allowed run transitions.
 * - queued → scheduled: dispatched to a proplet; → stopped: stopped before dispatch;
 *   → failed: cannot ever be dispatched (e.g. its message cannot be built).
 * - scheduled → running: the proplet accepted the lease; → completed/failed/stopped: a result can
 *   overtake a lost `accepted`; failed also when deliveries run out or the proplet is lost.
 * - running → completed/failed/stopped: result, loss, stop.
 * - A run never goes back to queued: a run lost with its proplet is failed and, when the task asks
 *   to be rescheduled, a NEW run (attempt + 1) is queued, so the history keeps both.
 * - finished runs never change.
 */
const RUN_TRANSITIONS: Record<RunState, readonly RunState[]> = {
  queued: ["scheduled", "stopped", "failed"],
  scheduled: ["running", "completed", "failed", "stopped"],
  running: ["completed", "failed", "stopped"],
  completed: [],
  failed: [],
  stopped: [],
};

/** Task transitions implied by its runs, plus pending → pending (created → started, waiting). */
const TASK_TRANSITIONS: Record<TaskState, readonly TaskState[]> = {
  pending: ["pending", "scheduled", "stopped", "failed"],
  scheduled: ["running", "pending", "completed", "failed", "stopped"],
  // → scheduled: a broadcast task whose running runs all finished while others are still scheduled.
  running: ["completed", "failed", "stopped", "pending", "scheduled"],
  // A finished task may be started again: it becomes pending with a new run.
  completed: ["pending"],
  failed: ["pending"],
  stopped: ["pending"],
};

export class IllegalTransitionError extends ConflictError {
  constructor(what: "task" | "run", id: string, from: string, to: string, reason?: string) {
    super("illegal_transition", `${what} ${id} cannot go from ${from} to ${to}${reason ? `: ${reason}` : ""}`, { from, to });
  }
}

export function canTransitionRun(from: RunState, to: RunState): boolean {
  return RUN_TRANSITIONS[from].includes(to);
}

export function assertRunTransition(runId: string, from: RunState, to: RunState): void {
  if (!canTransitionRun(from, to)) throw new IllegalTransitionError("run", runId, from, to);
}

export function assertTaskTransition(taskId: string, from: TaskState, to: TaskState, reason?: string): void {
  if (!TASK_TRANSITIONS[from].includes(to)) throw new IllegalTransitionError("task", taskId, from, to, reason);
}

export function isTerminalRun(state: RunState): boolean {
  return TERMINAL_RUN_STATES.includes(state);
}

export function isActiveRun(state: RunState): boolean {
  return ACTIVE_RUN_STATES.includes(state);
}

/** The task state that mirrors its latest run (or `pending` when it has none). */
export function taskStateForRun(run: RunState | null): TaskState {
  if (run === null || run === "queued") return "pending";
  return run;
}

/**
 * The state of a broadcast task from the runs of its fan-out: while any is unfinished, running if
 * any runs, else scheduled if any is scheduled, else pending; when all finished, failed if any
 * failed, else stopped if any stopped, else completed.
 */
export function taskStateForGroup(runs: readonly RunState[]): TaskState {
  if (runs.every(isTerminalRun)) {
    if (runs.includes("failed")) return "failed";
    if (runs.includes("stopped")) return "stopped";
    return "completed";
  }
  if (runs.includes("running")) return "running";
  if (runs.includes("scheduled")) return "scheduled";
  return "pending";
}

/** What a caller may do to a task in a given state (the REST API asks these). */
export const TASK_RULES = {
  /** PATCH: not while a run holds a proplet. */
  canUpdate: (s: TaskState) => s !== "scheduled" && s !== "running",
  /** DELETE without force: same. */
  canDelete: (s: TaskState) => s !== "scheduled" && s !== "running",
  /** POST start: only when there is no run waiting or in progress. */
  canStart: (latestRun: RunState | null) => latestRun === null || isTerminalRun(latestRun),
  /** POST stop: only when a run is waiting or in progress. */
  canStop: (latestRun: RunState | null) => latestRun !== null && !isTerminalRun(latestRun),
} as const;
