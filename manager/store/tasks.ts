import { columnDate, columnDateOrNull, columnJson, type SqlExecutor } from "../../db/index.js";
import type { TaskRecord, TaskSpec } from "../tasks/model.js";
import type { TaskState } from "../tasks/state.js";
import { taskFromRow, type Row } from "./rows.js";

const COLUMNS = "id, seq, name, state, spec, pending_reason, latest_run_id, created_at, updated_at";

export async function insertTask(
  db: SqlExecutor,
  task: { id: string; name: string; spec: TaskSpec; now: Date; nextTickAt?: Date | null },
): Promise<TaskRecord> {
  const { rows } = await db.query<Row>(
    `INSERT INTO tasks (id, name, state, spec, artifact_digest, created_at, updated_at, priority, next_tick_at)
     VALUES ($1, $2, 'pending', $3::jsonb, $4, $5, $5, $6, $7) RETURNING ${COLUMNS}`,
    [task.id, task.name, JSON.stringify(task.spec), task.spec.artifact.digest, task.now, task.spec.priority ?? 50, task.nextTickAt ?? null],
  );
  return taskFromRow(rows[0]!);
}

export async function getTask(db: SqlExecutor, id: string, options: { forUpdate?: boolean } = {}): Promise<TaskRecord | null> {
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM tasks WHERE id = $1${options.forUpdate ? " FOR UPDATE" : ""}`, [id]);
  return rows[0] ? taskFromRow(rows[0]) : null;
}

/** Newest first; `afterSeq` is the cursor (the seq of the last item of the previous page). */
export async function listTasks(
  db: SqlExecutor,
  query: { state?: TaskState; limit: number; afterSeq?: number },
): Promise<TaskRecord[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (query.state) {
    params.push(query.state);
    where.push(`state = $${params.length}`);
  }
  if (query.afterSeq !== undefined) {
    params.push(query.afterSeq);
    where.push(`seq < $${params.length}`);
  }
  params.push(query.limit);
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS} FROM tasks ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq DESC LIMIT $${params.length}`,
    params,
  );
  return rows.map(taskFromRow);
}

export async function updateTaskSpec(
  db: SqlExecutor,
  id: string,
  name: string,
  spec: TaskSpec,
  now: Date,
  nextTickAt?: Date | null,
): Promise<TaskRecord | null> {
  const { rows } = await db.query<Row>(
    `UPDATE tasks SET name = $2, spec = $3::jsonb, artifact_digest = $4, updated_at = $5, priority = $6,
            next_tick_at = CASE WHEN $7::boolean THEN $8::timestamptz ELSE next_tick_at END
      WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, name, JSON.stringify(spec), spec.artifact.digest, now, spec.priority ?? 50, nextTickAt !== undefined, nextTickAt ?? null],
  );
  return rows[0] ? taskFromRow(rows[0]) : null;
}

/** Sets the task's state (already checked by the state machine), latest run and pending reason. */
export async function setTaskState(
  db: SqlExecutor,
  id: string,
  change: { state: TaskState; latestRunId?: string; pendingReason: string | null; now: Date },
): Promise<void> {
  if (change.latestRunId !== undefined) {
    await db.query("UPDATE tasks SET state = $2, latest_run_id = $3, pending_reason = $4, updated_at = $5 WHERE id = $1", [
      id,
      change.state,
      change.latestRunId,
      change.pendingReason,
      change.now,
    ]);
  } else {
    await db.query("UPDATE tasks SET state = $2, pending_reason = $3, updated_at = $4 WHERE id = $1", [
      id,
      change.state,
      change.pendingReason,
      change.now,
    ]);
  }
}

/** Sets several tasks to one state (each change already checked by the state machine), clearing their pending reason. */
export async function setTasksState(db: SqlExecutor, ids: readonly string[], state: TaskState, now: Date): Promise<void> {
  if (ids.length === 0) return;
  await db.query("UPDATE tasks SET state = $2, pending_reason = NULL, updated_at = $3 WHERE id = ANY($1::text[])", [ids, state, now]);
}

/** Only the human-readable reason why a started task still waits; no state change. */
export async function setPendingReason(db: SqlExecutor, id: string, reason: string | null): Promise<void> {
  await db.query("UPDATE tasks SET pending_reason = $2 WHERE id = $1 AND state = 'pending' AND pending_reason IS DISTINCT FROM $2", [
    id,
    reason,
  ]);
}

export async function deleteTask(db: SqlExecutor, id: string): Promise<boolean> {
  const { rowCount } = await db.query("DELETE FROM tasks WHERE id = $1", [id]);
  return rowCount > 0;
}

/** Tasks whose cron tick is due, locked (others' locks skipped: one manager handles each tick). */
export async function claimDueTicks(db: SqlExecutor, now: Date, limit: number): Promise<Array<TaskRecord & { nextTickAt: Date }>> {
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS}, next_tick_at FROM tasks WHERE next_tick_at IS NOT NULL AND next_tick_at <= $1
      ORDER BY next_tick_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
    [now, limit],
  );
  return rows.map((r) => ({ ...taskFromRow(r), nextTickAt: columnDate(r.next_tick_at) }));
}

export async function setNextTick(db: SqlExecutor, id: string, next: Date | null): Promise<void> {
  await db.query("UPDATE tasks SET next_tick_at = $2 WHERE id = $1", [id, next]);
}

export async function getNextTick(db: SqlExecutor, id: string): Promise<Date | null> {
  const { rows } = await db.query<{ next_tick_at: unknown }>("SELECT next_tick_at FROM tasks WHERE id = $1", [id]);
  const v = rows[0]?.next_tick_at;
  return columnDateOrNull(v);
}

/** Tasks whose spec still holds secret values in the clear (rows written before they were sealed). */
export async function tasksWithPlainSecrets(db: SqlExecutor, limit: number): Promise<Array<{ id: string; spec: TaskSpec }>> {
  const { rows } = await db.query<{ id: string; spec: unknown }>(
    `SELECT id, spec FROM tasks WHERE spec ? 'secretEnv' AND jsonb_typeof(spec->'secretEnv') = 'object' AND spec->'secretEnv' <> '{}'::jsonb ORDER BY seq LIMIT $1`,
    [limit],
  );
  return rows.map((r) => ({ id: r.id, spec: columnJson<TaskSpec>(r.spec) }));
}

/** Replaces a spec as it is (no other column changes): for sealing an older row's secrets in place. */
export async function replaceSpec(db: SqlExecutor, id: string, spec: TaskSpec): Promise<void> {
  await db.query("UPDATE tasks SET spec = $2::jsonb WHERE id = $1", [id, JSON.stringify(spec)]);
}
