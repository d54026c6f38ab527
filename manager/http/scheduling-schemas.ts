/** TypeBox schemas of the scheduling routes (issue 7): broadcast results, cron, workflows, jobs. */
import { Type, type Static } from "@sinclair/typebox";
import { LIMITS, WasmValue } from "../../protocol/index.js";
import { ArtifactInput, Run, TaskStateSchema, taskFields } from "./schemas.js";

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

export const ScheduleState = Type.Object({
  taskId: Type.String(),
  schedule: Type.Union([Type.Object({ cron: Type.String(), timeZone: Type.String(), missed: Type.String() }), Type.Null()]),
  /** The next tick (UTC), or null when the task has no schedule. */
  nextTickAt: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
});
export type ScheduleState = Static<typeof ScheduleState>;

// ---- workflows and jobs ----------------------------------------------------------------------

export const MAX_NODES = 100;
const NodeName = Type.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$" });
/** A node's task: the fields of POST /tasks (name optional: "<workflow>/<node>"), never started by itself. */
export const NodeTask = Type.Object({ ...taskFields, name: Type.Optional(taskFields.name) }, { additionalProperties: false });
const RunIf = Type.Union([Type.Literal("success"), Type.Literal("failure"), Type.Literal("always")]);
const OnFailure = Type.Union([Type.Literal("skip-dependants"), Type.Literal("fail-dependants")]);
const PassResults = Type.Union([Type.Literal("none"), Type.Literal("stdin"), Type.Literal("args")]);

export const WorkflowNodeInput = Type.Object(
  {
    name: NodeName,
    task: NodeTask,
    dependsOn: Type.Optional(Type.Array(NodeName, { maxItems: MAX_NODES })),
    /** When the node runs once its dependencies finished (default success). */
    runIf: Type.Optional(RunIf),
    /** What this node's failure does to dependants whose run_if is not met (default skip-dependants). */
    onFailure: Type.Optional(OnFailure),
    /** Parents' stdout handed to this node's task (default none). */
    passResults: Type.Optional(PassResults),
  },
  { additionalProperties: false },
);
export const WorkflowCreate = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: LIMITS.nameBytes }),
    nodes: Type.Array(WorkflowNodeInput, { minItems: 1, maxItems: MAX_NODES }),
    start: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type WorkflowCreate = Static<typeof WorkflowCreate>;

export const JobCreate = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: LIMITS.nameBytes }),
    mode: Type.Union([Type.Literal("parallel"), Type.Literal("sequential")]),
    tasks: Type.Array(Type.Object({ name: NodeName, task: NodeTask }, { additionalProperties: false }), { minItems: 1, maxItems: MAX_NODES }),
    start: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type JobCreate = Static<typeof JobCreate>;

const NodeStateSchema = Type.Union((["waiting", "running", "completed", "failed", "stopped", "skipped"] as const).map((s) => Type.Literal(s)));
const WorkflowStateSchema = Type.Union((["created", "running", "completed", "failed", "stopped"] as const).map((s) => Type.Literal(s)));
const TimeOrNull = Type.Union([Type.String({ format: "date-time" }), Type.Null()]);

export const WorkflowNode = Type.Object({
  name: Type.String(),
  taskId: Type.Union([Type.String(), Type.Null()]),
  dependsOn: Type.Array(Type.String()),
  runIf: RunIf,
  onFailure: OnFailure,
  passResults: PassResults,
  state: NodeStateSchema,
  reason: Type.Union([Type.String(), Type.Null()]),
  startedAt: TimeOrNull,
  finishedAt: TimeOrNull,
});
export const Workflow = Type.Object({
  id: Type.String(),
  kind: Type.Union([Type.Literal("workflow"), Type.Literal("job")]),
  name: Type.String(),
  mode: Type.Union([Type.Literal("parallel"), Type.Literal("sequential"), Type.Null()]),
  state: WorkflowStateSchema,
  reason: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: "date-time" }),
  startedAt: TimeOrNull,
  finishedAt: TimeOrNull,
  nodes: Type.Array(WorkflowNode),
});
export type Workflow = Static<typeof Workflow>;
export const WorkflowList = Type.Object({ items: Type.Array(Workflow), nextCursor: Type.Union([Type.String(), Type.Null()]) });
export const WorkflowListQuery = Type.Object(
  {
    state: Type.Optional(WorkflowStateSchema),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(Type.String({ pattern: "^[A-Za-z0-9_-]{1,64}$" })),
  },
  { additionalProperties: false },
);

// ---- functions and invocations -----------------------------------------------------------------

export const FunctionName = Type.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$" });
export const FunctionCreate = Type.Object(
  {
    name: FunctionName,
    artifact: ArtifactInput,
    /** The export every invocation calls (numeric inputs and results). */
    export: Type.String({ minLength: 1, maxLength: 256 }),
    runtime: Type.Optional(Type.Literal("wasi-p1")),
    /** Warm instances per proplet: the concurrency of the function there (default 4). */
    instances: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
    /** Proplets it is kept warm on (default 1). */
    replicas: Type.Optional(Type.Integer({ minimum: 1, maximum: 16 })),
    memoryBytes: Type.Optional(Type.Integer({ minimum: 65536, maximum: LIMITS.maxMemoryBytes })),
    requirements: Type.Optional(
      Type.Object(
        { tags: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: LIMITS.tags, uniqueItems: true })) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type FunctionCreate = Static<typeof FunctionCreate>;

export const FunctionView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  export: Type.String(),
  instances: Type.Integer(),
  replicas: Type.Integer(),
  generation: Type.Integer(),
  placements: Type.Array(Type.Object({ propletId: Type.String(), state: Type.String(), error: Type.Union([Type.String(), Type.Null()]) })),
  createdAt: Type.String({ format: "date-time" }),
});
export type FunctionView = Static<typeof FunctionView>;
export const FunctionList = Type.Object({ items: Type.Array(FunctionView) });
export const FunctionParams = Type.Object({ name: FunctionName });

export const InvokeRequest = Type.Object(
  {
    inputs: Type.Optional(Type.Array(WasmValue, { maxItems: 64 })),
    /** The whole call, deployment wait included, ends by then (default 10000). */
    deadlineMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 300_000 })),
  },
  { additionalProperties: false },
);
export type InvokeRequest = Static<typeof InvokeRequest>;
export const InvokeReply = Type.Object({
  functionId: Type.String(),
  invocationId: Type.String(),
  propletId: Type.String(),
  outcome: Type.Union([Type.Literal("completed"), Type.Literal("failed")]),
  returnValues: Type.Union([Type.Array(Type.Union([Type.Number(), Type.String()])), Type.Null()]),
  error: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]),
  /** Manager-side wall time of the call; and the proplet's share of it. */
  durationMs: Type.Number(),
  propletDurationMs: Type.Number(),
});
export type InvokeReply = Static<typeof InvokeReply>;
