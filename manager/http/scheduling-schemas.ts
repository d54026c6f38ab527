/** TypeBox schemas of the scheduling routes (issue 7): broadcast results, cron, workflows, jobs. */
import { Type, type Static } from "@sinclair/typebox";
import { Run, TaskStateSchema } from "./schemas.js";

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
