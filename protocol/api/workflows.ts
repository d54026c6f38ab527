/** Workflows (a DAG of tasks) and jobs (tasks in parallel or in sequence): one resource shape. */
import { Type, type Static } from "@sinclair/typebox";
import { LIMITS } from "../limits.js";
import { Cursor, Time, TimeOrNull } from "./common.js";
import { MAX_NODES } from "./limits.js";
import { taskFields } from "./tasks.js";

const NodeName = Type.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$" });
/** A node's task: the fields of POST /tasks (name optional: "<workflow>/<node>"), never started by itself. */
export const NodeTask = Type.Object({ ...taskFields, name: Type.Optional(taskFields.name) }, { additionalProperties: false });
export type NodeTask = Static<typeof NodeTask>;
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
export type WorkflowNodeInput = Static<typeof WorkflowNodeInput>;
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

export const FLOW_KINDS = ["workflow", "job"] as const;
export type FlowKind = (typeof FLOW_KINDS)[number];
const NodeStateSchema = Type.Union((["waiting", "running", "completed", "failed", "stopped", "skipped"] as const).map((s) => Type.Literal(s)));
const WorkflowStateSchema = Type.Union((["created", "running", "completed", "failed", "stopped"] as const).map((s) => Type.Literal(s)));

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
export type WorkflowNode = Static<typeof WorkflowNode>;
export const Workflow = Type.Object({
  id: Type.String(),
  kind: Type.Union([Type.Literal("workflow"), Type.Literal("job")]),
  name: Type.String(),
  mode: Type.Union([Type.Literal("parallel"), Type.Literal("sequential"), Type.Null()]),
  state: WorkflowStateSchema,
  reason: Type.Union([Type.String(), Type.Null()]),
  createdAt: Time,
  startedAt: TimeOrNull,
  finishedAt: TimeOrNull,
  nodes: Type.Array(WorkflowNode),
});
export type Workflow = Static<typeof Workflow>;
export const WorkflowList = Type.Object({ items: Type.Array(Workflow), nextCursor: Type.Union([Type.String(), Type.Null()]) });
export type WorkflowList = Static<typeof WorkflowList>;
export const WorkflowListQuery = Type.Object(
  {
    state: Type.Optional(WorkflowStateSchema),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(Cursor),
  },
  { additionalProperties: false },
);
export type WorkflowListQuery = Static<typeof WorkflowListQuery>;
