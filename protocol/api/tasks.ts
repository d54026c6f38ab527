/** Tasks: what to run (artifact, entrypoint, inputs, limits, placement, scheduling) and its state. */
import { Type, type Static } from "@sinclair/typebox";
import { LIMITS } from "../limits.js";
import { Id, PropletId } from "../messages/common.js";
import { ConfidentialSpec, Entrypoint, Grants } from "../messages/task.js";
import { ArtifactInput, ArtifactView } from "./artifacts.js";
import { Base64, Cursor, MemoryBytes, Name, Runtime, Tags, Tee, Time, TimeOrNull, WasmValueOut } from "./common.js";
import { Run } from "./runs.js";

const LimitsInput = Type.Object(
  {
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: LIMITS.maxTimeoutMs })),
    memoryBytes: Type.Optional(MemoryBytes),
    outputBytes: Type.Optional(Type.Integer({ minimum: 0, maximum: LIMITS.maxOutputBytes })),
  },
  { additionalProperties: false },
);

const Requirements = Type.Object(
  {
    tags: Type.Optional(Tags),
    tee: Type.Optional(Type.Union([Type.Null(), Tee])),
  },
  { additionalProperties: false },
);

const Args = Type.Array(Type.String({ maxLength: LIMITS.argBytes }), { maxItems: LIMITS.args });
const Env = Type.Record(Type.String({ pattern: "^[A-Za-z_][A-Za-z0-9_]{0,127}$" }), Type.String({ maxLength: LIMITS.envValueBytes }), {
  additionalProperties: false,
  maxProperties: LIMITS.envVars,
});
const OnPropletLoss = Type.Union([Type.Literal("fail"), Type.Literal("reschedule")]);

/** Scheduling (manager/README.md "Scheduling"). */
export const Priority = Type.Integer({ minimum: 0, maximum: 100, description: "queue order, 0 lowest .. 100 highest (default 50)" });
export const RetryPolicyInput = Type.Object(
  {
    maxAttempts: Type.Integer({ minimum: 1, maximum: 20, description: "runs in all, the first included" }),
    backoffMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 3_600_000, description: "wait before the first retry (default 1000), doubled per retry" })),
    maxBackoffMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400_000, description: "upper bound of one wait (default 300000)" })),
  },
  { additionalProperties: false },
);
export const CronScheduleInput = Type.Object(
  {
    cron: Type.String({ minLength: 9, maxLength: 200, description: "5 fields, or 6 with seconds first" }),
    timeZone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "IANA time zone (default UTC)" })),
    missed: Type.Optional(Type.Union([Type.Literal("run-once"), Type.Literal("skip")], { description: "a tick missed while no manager ran (default skip)" })),
  },
  { additionalProperties: false },
);

export const taskFields = {
  name: Name,
  artifact: ArtifactInput,
  runtime: Type.Optional(Runtime),
  entrypoint: Type.Optional(Entrypoint),
  args: Type.Optional(Args),
  env: Type.Optional(Env),
  /**
   * Environment variables whose values are secret: delivered to the proplet with `env`, but never
   * returned by the API (a task shows their names in `secretEnvNames`) nor logged.
   */
  secretEnv: Type.Optional(Env),
  stdin: Type.Optional(Base64(LIMITS.stdinBytes)),
  limits: Type.Optional(LimitsInput),
  target: Type.Optional(Type.Union([PropletId, Type.Null()])),
  requirements: Type.Optional(Requirements),
  onPropletLoss: Type.Optional(OnPropletLoss),
  /** Encrypted workload: the artifact is the age ciphertext; the KBS releases its key to an attested `tee`. */
  confidential: Type.Optional(Type.Union([Type.Null(), ConfidentialSpec])),
  /** What the run may reach: granted directories (host side chosen by the proplet) and host:port pairs. */
  grants: Type.Optional(Type.Union([Type.Null(), Grants])),
  priority: Type.Optional(Priority),
  retry: Type.Optional(Type.Union([Type.Null(), RetryPolicyInput])),
  /** One run on every live proplet that fits the task, aggregated. */
  broadcast: Type.Optional(Type.Boolean()),
  schedule: Type.Optional(Type.Union([Type.Null(), CronScheduleInput])),
};

export const TaskCreate = Type.Object({ ...taskFields, start: Type.Optional(Type.Boolean()) }, { additionalProperties: false });
export type TaskCreate = Static<typeof TaskCreate>;

/** Any subset of a task's fields (at least one); the same field schemas as TaskCreate. */
export const TaskPatch = Type.Partial(Type.Object(taskFields), { additionalProperties: false, minProperties: 1 });
export type TaskPatch = Static<typeof TaskPatch>;

export const TASK_STATE_VALUES = ["pending", "scheduled", "running", "completed", "failed", "stopped"] as const;
export const TaskStateSchema = Type.Union(TASK_STATE_VALUES.map((s) => Type.Literal(s)));
export type TaskState = Static<typeof TaskStateSchema>;

/** A task's retry policy and cron schedule as the API shows them (defaults filled in). */
export const RetryPolicy = Type.Object({ maxAttempts: Type.Integer(), backoffMs: Type.Integer(), maxBackoffMs: Type.Integer() });
export type RetryPolicy = Static<typeof RetryPolicy>;
export const CronSchedule = Type.Object({ cron: Type.String(), timeZone: Type.String(), missed: Type.String() });
export type CronSchedule = Static<typeof CronSchedule>;

export const Task = Type.Object({
  id: Type.String(),
  name: Type.String(),
  state: TaskStateSchema,
  runtime: Runtime,
  artifact: ArtifactView,
  entrypoint: Type.Union([
    Type.Object({ kind: Type.Literal("wasi") }),
    Type.Object({ kind: Type.Literal("export"), name: Type.String(), inputs: Type.Array(WasmValueOut) }),
    Type.Object({ kind: Type.Literal("export"), name: Type.String(), args: Type.String() }),
  ]),
  args: Type.Array(Type.String()),
  env: Type.Record(Type.String(), Type.String()),
  /** Names of the task's secret environment variables; their values are never returned. */
  secretEnvNames: Type.Array(Type.String()),
  stdin: Type.String(),
  limits: Type.Object({ timeoutMs: Type.Integer(), memoryBytes: Type.Integer(), outputBytes: Type.Integer() }),
  target: Type.Union([Type.String(), Type.Null()]),
  requirements: Type.Object({ tags: Type.Array(Type.String()), tee: Type.Union([Type.String(), Type.Null()]) }),
  onPropletLoss: OnPropletLoss,
  encrypted: Type.Boolean(),
  confidential: Type.Union([ConfidentialSpec, Type.Null()]),
  grants: Type.Optional(Type.Union([Grants, Type.Null()])),
  pendingReason: Type.Union([Type.String(), Type.Null()]),
  createdAt: Time,
  updatedAt: Time,
  latestRun: Type.Union([Run, Type.Null()]),
  priority: Type.Optional(Type.Integer()),
  retry: Type.Optional(Type.Union([RetryPolicy, Type.Null()])),
  broadcast: Type.Optional(Type.Boolean()),
  schedule: Type.Optional(Type.Union([CronSchedule, Type.Null()])),
});
export type Task = Static<typeof Task>;

export const TaskList = Type.Object({ items: Type.Array(Task), nextCursor: Type.Union([Type.String(), Type.Null()]) });
export type TaskList = Static<typeof TaskList>;
export const TaskIdParams = Type.Object({ id: Id });
export type TaskIdParams = Static<typeof TaskIdParams>;
export const TaskListQuery = Type.Object(
  {
    state: Type.Optional(TaskStateSchema),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
    cursor: Type.Optional(Cursor),
  },
  { additionalProperties: false },
);
export type TaskListQuery = Static<typeof TaskListQuery>;
/** Longest a request may hold the connection waiting for a task to settle. */
export const MAX_TASK_WAIT_MS = 60_000;
/**
 * `?wait=<ms>`: answer when the task is settled (completed, failed or stopped, with no retry
 * pending) or after `ms`, whichever comes first, so a client needs no polling loop.
 */
export const TaskWaitQuery = Type.Object(
  { wait: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_TASK_WAIT_MS, description: "milliseconds to wait for the task to settle (0 = answer at once)" })) },
  { additionalProperties: false },
);
export type TaskWaitQuery = Static<typeof TaskWaitQuery>;
export const TaskDeleteQuery = Type.Object({ force: Type.Optional(Type.Boolean()) }, { additionalProperties: false });
export type TaskDeleteQuery = Static<typeof TaskDeleteQuery>;

/** GET /tasks/{id}/broadcast: the latest fan-out of a broadcast task, aggregated. */
const Count = Type.Integer({ minimum: 0 });
export const BroadcastResult = Type.Object({
  taskId: Type.String(),
  groupId: Type.String(),
  /** Aggregate: failed if any run failed, stopped if any stopped, completed if all completed. */
  state: TaskStateSchema,
  total: Count,
  counts: Type.Object({ queued: Count, scheduled: Count, running: Count, completed: Count, failed: Count, stopped: Count }),
  runs: Type.Array(Run),
});
export type BroadcastResult = Static<typeof BroadcastResult>;

/** GET /tasks/{id}/schedule. */
export const ScheduleState = Type.Object({
  taskId: Type.String(),
  schedule: Type.Union([CronSchedule, Type.Null()]),
  /** The next tick (UTC), or null when the task has no schedule. */
  nextTickAt: TimeOrNull,
});
export type ScheduleState = Static<typeof ScheduleState>;
