import type { SqlExecutor } from "../../db/index.js";
import type { ReceiptCheckRecord, RunRecord, StoredResult, TaskRecord } from "../tasks/model.js";
import { RUN_STATES, type RunState } from "../tasks/state.js";
import { runFromRow, taskFromRow, type Row } from "./rows.js";

const COLUMNS =
  "id, task_id, attempt, state, proplet_id, deliveries, receipt_nonce, created_at, dispatched_at, last_delivery_at, accepted_at, started_at, finished_at, result, receipt, receipt_check, not_before, group_id, pinned_proplet, try_number";
const R_COLUMNS = COLUMNS.split(", ")
  .map((c) => `r.${c}`)
  .join(", ");

export async function insertRun(
  db: SqlExecutor,
  run: {
    id: string;
    taskId: string;
    attempt: number;
    receiptNonce: string;
    now: Date;
    notBefore?: Date | null;
    groupId?: string | null;
    pinnedProplet?: string | null;
    tryNumber?: number;
  },
): Promise<RunRecord> {
  const { rows } = await db.query<Row>(
    `INSERT INTO runs (id, task_id, attempt, state, receipt_nonce, created_at, not_before, group_id, pinned_proplet, try_number)
     VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7, $8, $9) RETURNING ${COLUMNS}`,
    [run.id, run.taskId, run.attempt, run.receiptNonce, run.now, run.notBefore ?? null, run.groupId ?? null, run.pinnedProplet ?? null, run.tryNumber ?? 1],
  );
  return runFromRow(rows[0]!);
}

export async function getRun(db: SqlExecutor, id: string, options: { forUpdate?: boolean } = {}): Promise<RunRecord | null> {
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM runs WHERE id = $1${options.forUpdate ? " FOR UPDATE" : ""}`, [id]);
  return rows[0] ? runFromRow(rows[0]) : null;
}

export async function getRuns(db: SqlExecutor, ids: readonly string[]): Promise<RunRecord[]> {
  if (ids.length === 0) return [];
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM runs WHERE id = ANY($1::text[])`, [ids]);
  return rows.map(runFromRow);
}

/** Runs of a task, newest first (bounded: the newest `limit`). */
export async function listRuns(db: SqlExecutor, taskId: string, limit = 1000): Promise<RunRecord[]> {
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM runs WHERE task_id = $1 ORDER BY attempt DESC LIMIT $2`, [taskId, limit]);
  return rows.map(runFromRow);
}

export async function latestFinishedRun(db: SqlExecutor, taskId: string): Promise<RunRecord | null> {
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS} FROM runs WHERE task_id = $1 AND state IN ('completed', 'failed', 'stopped') ORDER BY attempt DESC LIMIT 1`,
    [taskId],
  );
  return rows[0] ? runFromRow(rows[0]) : null;
}

export async function maxAttempt(db: SqlExecutor, taskId: string): Promise<number> {
  const { rows } = await db.query<{ m: number | null }>("SELECT max(attempt) AS m FROM runs WHERE task_id = $1", [taskId]);
  return Number(rows[0]?.m ?? 0);
}

/**
 * Queued runs whose backoff is over, with their tasks, in queue order, locked for this transaction.
 * SKIP LOCKED lets several managers claim work at once without ever handing the same run to two.
 *
 * Queue order (manager/README.md, "Scheduling"): effective priority, highest first, then age.
 * Effective priority = the task's priority + one point per `agingMs` waited (since queued, or since
 * its backoff ended), so a waiting run overtakes every fresher run after at most (100 − p) × agingMs.
 */
export async function claimQueuedRuns(
  db: SqlExecutor,
  limit: number,
  options: { now?: Date; agingMs?: number; offset?: number } = {},
): Promise<Array<{ run: RunRecord; task: TaskRecord }>> {
  const now = options.now ?? new Date();
  const agingMs = options.agingMs ?? 60_000;
  const offset = options.offset ?? 0;
  const { rows } = await db.query<Row>(
    `SELECT ${R_COLUMNS}, t.id AS t_id, t.seq AS t_seq, t.name AS t_name, t.state AS t_state, t.spec AS t_spec,
            t.pending_reason AS t_pending_reason, t.latest_run_id AS t_latest_run_id, t.created_at AS t_created_at, t.updated_at AS t_updated_at
       FROM runs r JOIN tasks t ON t.id = r.task_id
      WHERE r.state = 'queued' AND (r.not_before IS NULL OR r.not_before <= $2)
      ORDER BY t.priority + floor(GREATEST(0, extract(epoch FROM ($2::timestamptz - COALESCE(r.not_before, r.created_at)))) * 1000 / $3) DESC,
               COALESCE(r.not_before, r.created_at), r.id
      LIMIT $1 OFFSET $4
      FOR UPDATE OF r, t SKIP LOCKED`,
    [limit, now, agingMs, offset],
  );
  return rows.map((row) => ({
    run: runFromRow(row),
    task: taskFromRow({
      id: row.t_id,
      seq: row.t_seq,
      name: row.t_name,
      state: row.t_state,
      spec: row.t_spec,
      pending_reason: row.t_pending_reason,
      latest_run_id: row.t_latest_run_id,
      created_at: row.t_created_at,
      updated_at: row.t_updated_at,
    }),
  }));
}

/** Scheduled runs whose last delivery was not accepted by `before`, locked (skipping others' locks). */
export async function claimOverdueDeliveries(db: SqlExecutor, before: Date, limit: number): Promise<RunRecord[]> {
  // Locks the task too (as every transition does, task first), skipping rows others hold.
  const { rows } = await db.query<Row>(
    `SELECT ${R_COLUMNS} FROM runs r JOIN tasks t ON t.id = r.task_id
      WHERE r.state = 'scheduled' AND r.last_delivery_at < $1
      ORDER BY r.last_delivery_at LIMIT $2 FOR UPDATE OF r, t SKIP LOCKED`,
    [before, limit],
  );
  return rows.map(runFromRow);
}

/** Runs that hold a slot on a proplet (scheduled or running). */
export async function activeRuns(db: SqlExecutor, propletId?: string): Promise<RunRecord[]> {
  const { rows } = propletId
    ? await db.query<Row>(`SELECT ${COLUMNS} FROM runs WHERE proplet_id = $1 AND state IN ('scheduled', 'running')`, [propletId])
    : await db.query<Row>(`SELECT ${COLUMNS} FROM runs WHERE state IN ('scheduled', 'running')`);
  return rows.map(runFromRow);
}

/** Scheduled or running runs per proplet, and the memory their limits reserve there. */
export async function usageByProplet(db: SqlExecutor): Promise<Map<string, { runs: number; memoryBytes: number }>> {
  const { rows } = await db.query<{ proplet_id: string; n: number | string; mem: number | string | null }>(
    `SELECT r.proplet_id, count(*) AS n, sum(COALESCE((t.spec->'limits'->>'memoryBytes')::bigint, 0)) AS mem
       FROM runs r JOIN tasks t ON t.id = r.task_id
      WHERE r.state IN ('scheduled', 'running') AND r.proplet_id IS NOT NULL GROUP BY r.proplet_id`,
  );
  return new Map(rows.map((r) => [r.proplet_id, { runs: Number(r.n), memoryBytes: Number(r.mem ?? 0) }]));
}

/** Number of scheduled or running runs per proplet. */
export async function loadByProplet(db: SqlExecutor): Promise<Map<string, number>> {
  const { rows } = await db.query<{ proplet_id: string; n: number | string }>(
    "SELECT proplet_id, count(*) AS n FROM runs WHERE state IN ('scheduled', 'running') AND proplet_id IS NOT NULL GROUP BY proplet_id",
  );
  return new Map(rows.map((r) => [r.proplet_id, Number(r.n)]));
}

export interface RunChange {
  state?: RunState;
  propletId?: string | null;
  deliveries?: number;
  dispatchedAt?: Date;
  lastDeliveryAt?: Date;
  acceptedAt?: Date;
  startedAt?: Date | null;
  finishedAt?: Date;
  result?: StoredResult;
  receipt?: string | null;
  receiptCheck?: ReceiptCheckRecord | null;
}

const CHANGE_COLUMNS: Record<keyof RunChange, string> = {
  state: "state",
  propletId: "proplet_id",
  deliveries: "deliveries",
  dispatchedAt: "dispatched_at",
  lastDeliveryAt: "last_delivery_at",
  acceptedAt: "accepted_at",
  startedAt: "started_at",
  finishedAt: "finished_at",
  result: "result",
  receipt: "receipt",
  receiptCheck: "receipt_check",
};

/**
 * Applies `change` only if the run is still in `expected` state (and, when given, still held by
 * `expectedProplet`): concurrent handlers and managers race safely, the loser changes nothing.
 * Returns the updated run, or null when the condition no longer held.
 */
export async function updateRunIf(
  db: SqlExecutor,
  id: string,
  expected: RunState,
  change: RunChange,
  expectedProplet?: string | null,
): Promise<RunRecord | null> {
  const sets: string[] = [];
  const params: unknown[] = [id, expected];
  for (const [key, value] of Object.entries(change) as Array<[keyof RunChange, unknown]>) {
    if (value === undefined) continue;
    const isJson = key === "result" || key === "receiptCheck";
    params.push(isJson && value !== null ? JSON.stringify(value) : value);
    sets.push(`${CHANGE_COLUMNS[key]} = $${params.length}${isJson ? "::jsonb" : ""}`);
  }
  let where = "id = $1 AND state = $2";
  if (expectedProplet !== undefined) {
    params.push(expectedProplet);
    where += ` AND proplet_id IS NOT DISTINCT FROM $${params.length}`;
  }
  const { rows } = await db.query<Row>(`UPDATE runs SET ${sets.join(", ")} WHERE ${where} RETURNING ${COLUMNS}`, params);
  return rows[0] ? runFromRow(rows[0]) : null;
}

/**
 * Moves many queued runs (locked by the caller's claim) to `scheduled` on their chosen proplets,
 * first delivery at `now`, in one statement. Returns the runs that were still queued.
 */
export async function scheduleQueuedRuns(db: SqlExecutor, placements: ReadonlyArray<{ runId: string; propletId: string }>, now: Date): Promise<RunRecord[]> {
  if (placements.length === 0) return [];
  const { rows } = await db.query<Row>(
    `UPDATE runs r SET state = 'scheduled', proplet_id = p.proplet_id, deliveries = 1, dispatched_at = $3, last_delivery_at = $3
       FROM unnest($1::text[], $2::text[]) AS p(id, proplet_id)
      WHERE r.id = p.id AND r.state = 'queued'
      RETURNING ${R_COLUMNS}`,
    [placements.map((p) => p.runId), placements.map((p) => p.propletId), now],
  );
  return rows.map(runFromRow);
}

/** Every run of one broadcast fan-out. */
export async function groupRuns(db: SqlExecutor, groupId: string): Promise<RunRecord[]> {
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM runs WHERE group_id = $1 ORDER BY attempt`, [groupId]);
  return rows.map(runFromRow);
}

/** Runs per state (every state, zero included), for the metrics export. */
export async function countRunsByState(db: SqlExecutor): Promise<Record<RunState, number>> {
  const { rows } = await db.query<{ state: RunState; n: number | string }>("SELECT state, count(*) AS n FROM runs GROUP BY state");
  const counts = Object.fromEntries(RUN_STATES.map((s) => [s, 0])) as Record<RunState, number>;
  for (const r of rows) if (r.state in counts) counts[r.state] = Number(r.n);
  return counts;
}

/** Queued runs per priority band (low 0–33, normal 34–66, high 67–100), for the metrics export. */
export async function countQueuedByBand(db: SqlExecutor): Promise<Record<PriorityBand, number>> {
  const { rows } = await db.query<{ band: PriorityBand; n: number | string }>(
    `SELECT CASE WHEN t.priority >= 67 THEN 'high' WHEN t.priority >= 34 THEN 'normal' ELSE 'low' END AS band, count(*) AS n
       FROM runs r JOIN tasks t ON t.id = r.task_id WHERE r.state = 'queued' GROUP BY 1`,
  );
  const counts: Record<PriorityBand, number> = { low: 0, normal: 0, high: 0 };
  for (const r of rows) counts[r.band] = Number(r.n);
  return counts;
}

export const PRIORITY_BANDS = ["low", "normal", "high"] as const;
export type PriorityBand = (typeof PRIORITY_BANDS)[number];
