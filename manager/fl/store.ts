/** SQL of federated learning (migrations/manager/0011_fl.sql), PostgreSQL and PGlite alike. */
import { columnDate as date, columnDateOrNull as dateOrNull, columnJson as json, columnNumberOrNull as numOrNull, type Row, type SqlExecutor } from "../../db/index.js";
import type { FlExperimentSpec } from "./spec.js";

export type ExperimentState = "created" | "running" | "completed" | "failed" | "stopped";
export type RoundState = "opening" | "training" | "aggregating" | "completed" | "failed";

/** How a round's secure aggregation went (fl_rounds.secagg): never an update, only who and why. */
export interface SecAggRecord {
  session: string;
  threshold: number;
  clip: number;
  maxWeight: number;
  fractionBits: number;
  participants: string[];
  /** Whose masked inputs are in the sum (null while running or when it failed). */
  survivors: string[] | null;
  /** Who left the session, at which step and why. */
  dropped: Array<{ propletId: string; reason: string }>;
  /** Every secure-aggregation message the manager refused during the session, with the reason. */
  refusals: Array<{ from: string; reason: string; at: string }>;
  /** Why the session failed, if it did. */
  failure: string | null;
}
export type UpdateState = "pending" | "accepted" | "rejected" | "missing";

export interface ExperimentRecord {
  id: string;
  seq: number;
  name: string;
  state: ExperimentState;
  reason: string | null;
  spec: FlExperimentSpec;
  currentRound: number;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface ParticipantRecord {
  experimentId: string;
  propletId: string;
  state: "active" | "excluded";
  reason: string | null;
}

export interface RoundRecord {
  experimentId: string;
  round: number;
  state: RoundState;
  reason: string | null;
  baseVersion: number;
  modelVersion: number | null;
  startedAt: Date;
  deadlineAt: Date;
  openedAt: Date | null;
  closedAt: Date | null;
  finishedAt: Date | null;
  /** The SecAgg session a manager claimed for this round (aggregation "secagg"). */
  secaggSession: string | null;
  secagg: SecAggRecord | null;
}

export interface UpdateRecord {
  experimentId: string;
  round: number;
  propletId: string;
  taskId: string | null;
  runId: string | null;
  state: UpdateState;
  reason: string | null;
  digest: string | null;
  samples: number | null;
  attested: boolean | null;
  weights: number[] | null;
  finishedAt: Date | null;
}

export interface ModelRecord {
  experimentId: string;
  version: number;
  round: number | null;
  digest: string;
  encoded: string;
  samples: number;
  /** samples is null under secure aggregation: each participant's count is masked, only the total is known. */
  updates: Array<{ propletId: string; digest: string; samples: number | null }>;
  createdAt: Date;
}


const E_COLUMNS = "id, seq, name, state, reason, spec, current_round, created_at, updated_at, started_at, finished_at";
const R_COLUMNS = "experiment_id, round, state, reason, base_version, model_version, started_at, deadline_at, opened_at, closed_at, finished_at, secagg_session, secagg";
const U_COLUMNS = "experiment_id, round, proplet_id, task_id, run_id, state, reason, digest, samples, attested, weights, finished_at";
const M_COLUMNS = "experiment_id, version, round, digest, encoded, samples, updates, created_at";

function experimentFromRow(r: Row): ExperimentRecord {
  return {
    id: String(r.id),
    seq: Number(r.seq),
    name: String(r.name),
    state: r.state as ExperimentState,
    reason: (r.reason as string | null) ?? null,
    spec: json<FlExperimentSpec>(r.spec),
    currentRound: Number(r.current_round),
    createdAt: date(r.created_at),
    updatedAt: date(r.updated_at),
    startedAt: dateOrNull(r.started_at),
    finishedAt: dateOrNull(r.finished_at),
  };
}

function roundFromRow(r: Row): RoundRecord {
  return {
    experimentId: String(r.experiment_id),
    round: Number(r.round),
    state: r.state as RoundState,
    reason: (r.reason as string | null) ?? null,
    baseVersion: Number(r.base_version),
    modelVersion: numOrNull(r.model_version),
    startedAt: date(r.started_at),
    deadlineAt: date(r.deadline_at),
    openedAt: dateOrNull(r.opened_at),
    closedAt: dateOrNull(r.closed_at),
    finishedAt: dateOrNull(r.finished_at),
    secaggSession: (r.secagg_session as string | null) ?? null,
    secagg: r.secagg === null || r.secagg === undefined ? null : json<SecAggRecord>(r.secagg),
  };
}

function updateFromRow(r: Row): UpdateRecord {
  return {
    experimentId: String(r.experiment_id),
    round: Number(r.round),
    propletId: String(r.proplet_id),
    taskId: (r.task_id as string | null) ?? null,
    runId: (r.run_id as string | null) ?? null,
    state: r.state as UpdateState,
    reason: (r.reason as string | null) ?? null,
    digest: (r.digest as string | null) ?? null,
    samples: numOrNull(r.samples),
    attested: (r.attested as boolean | null) ?? null,
    weights: r.weights === null || r.weights === undefined ? null : json<number[]>(r.weights),
    finishedAt: dateOrNull(r.finished_at),
  };
}

function modelFromRow(r: Row): ModelRecord {
  return {
    experimentId: String(r.experiment_id),
    version: Number(r.version),
    round: numOrNull(r.round),
    digest: String(r.digest),
    encoded: String(r.encoded),
    samples: Number(r.samples),
    updates: json<ModelRecord["updates"]>(r.updates),
    createdAt: date(r.created_at),
  };
}

export async function insertExperiment(db: SqlExecutor, e: { id: string; name: string; spec: FlExperimentSpec; now: Date }): Promise<void> {
  await db.query(`INSERT INTO fl_experiments (id, name, state, spec, created_at, updated_at) VALUES ($1, $2, 'created', $3::jsonb, $4, $4)`, [e.id, e.name, JSON.stringify(e.spec), e.now]);
}

export async function getExperiment(db: SqlExecutor, id: string, options: { forUpdate?: boolean } = {}): Promise<ExperimentRecord | null> {
  const { rows } = await db.query<Row>(`SELECT ${E_COLUMNS} FROM fl_experiments WHERE id = $1${options.forUpdate ? " FOR UPDATE" : ""}`, [id]);
  return rows[0] ? experimentFromRow(rows[0]) : null;
}

export async function listExperiments(db: SqlExecutor, q: { state?: ExperimentState; limit: number; afterSeq?: number }): Promise<ExperimentRecord[]> {
  const params: unknown[] = [];
  const where: string[] = [];
  if (q.state) {
    params.push(q.state);
    where.push(`state = $${params.length}`);
  }
  if (q.afterSeq !== undefined) {
    params.push(q.afterSeq);
    where.push(`seq < $${params.length}`);
  }
  params.push(q.limit);
  const { rows } = await db.query<Row>(`SELECT ${E_COLUMNS} FROM fl_experiments ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq DESC LIMIT $${params.length}`, params);
  return rows.map(experimentFromRow);
}

/** Running experiments, locked; those another manager holds are skipped (one advances each at a time). */
export async function claimRunning(db: SqlExecutor, limit: number): Promise<ExperimentRecord[]> {
  const { rows } = await db.query<Row>(`SELECT ${E_COLUMNS} FROM fl_experiments WHERE state = 'running' ORDER BY updated_at LIMIT $1 FOR UPDATE SKIP LOCKED`, [limit]);
  return rows.map(experimentFromRow);
}

/** Locks one running experiment unless another manager holds it (null then, or when not running). */
export async function claimOne(db: SqlExecutor, id: string): Promise<ExperimentRecord | null> {
  const { rows } = await db.query<Row>(`SELECT ${E_COLUMNS} FROM fl_experiments WHERE id = $1 AND state = 'running' FOR UPDATE SKIP LOCKED`, [id]);
  return rows[0] ? experimentFromRow(rows[0]) : null;
}

export async function setExperimentState(
  db: SqlExecutor,
  id: string,
  change: { state: ExperimentState; reason?: string | null; now: Date; currentRound?: number; startedAt?: Date; finishedAt?: Date },
): Promise<void> {
  await db.query(
    `UPDATE fl_experiments SET state = $2, reason = COALESCE($3, reason), updated_at = $4, current_round = COALESCE($5, current_round),
            started_at = COALESCE($6, started_at), finished_at = COALESCE($7, finished_at) WHERE id = $1`,
    [id, change.state, change.reason ?? null, change.now, change.currentRound ?? null, change.startedAt ?? null, change.finishedAt ?? null],
  );
}

export async function insertParticipant(db: SqlExecutor, experimentId: string, propletId: string): Promise<void> {
  await db.query(`INSERT INTO fl_participants (experiment_id, proplet_id, state) VALUES ($1, $2, 'active') ON CONFLICT DO NOTHING`, [experimentId, propletId]);
}

export async function listParticipants(db: SqlExecutor, experimentId: string): Promise<ParticipantRecord[]> {
  const { rows } = await db.query<Row>(`SELECT experiment_id, proplet_id, state, reason FROM fl_participants WHERE experiment_id = $1 ORDER BY proplet_id`, [experimentId]);
  return rows.map((r) => ({ experimentId: String(r.experiment_id), propletId: String(r.proplet_id), state: r.state as ParticipantRecord["state"], reason: (r.reason as string | null) ?? null }));
}

export async function excludeParticipant(db: SqlExecutor, experimentId: string, propletId: string, reason: string): Promise<void> {
  await db.query(`UPDATE fl_participants SET state = 'excluded', reason = $3 WHERE experiment_id = $1 AND proplet_id = $2`, [experimentId, propletId, reason]);
}

export async function insertModel(db: SqlExecutor, m: ModelRecord): Promise<void> {
  await db.query(
    `INSERT INTO fl_models (${M_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)`,
    [m.experimentId, m.version, m.round, m.digest, m.encoded, m.samples, JSON.stringify(m.updates), m.createdAt],
  );
}

export async function getModel(db: SqlExecutor, experimentId: string, version: number): Promise<ModelRecord | null> {
  const { rows } = await db.query<Row>(`SELECT ${M_COLUMNS} FROM fl_models WHERE experiment_id = $1 AND version = $2`, [experimentId, version]);
  return rows[0] ? modelFromRow(rows[0]) : null;
}

export async function latestModels(db: SqlExecutor, experimentIds: readonly string[]): Promise<Map<string, { version: number; digest: string }>> {
  const out = new Map<string, { version: number; digest: string }>();
  if (experimentIds.length === 0) return out;
  const { rows } = await db.query<Row>(
    `SELECT DISTINCT ON (experiment_id) experiment_id, version, digest FROM fl_models WHERE experiment_id = ANY($1::text[]) ORDER BY experiment_id, version DESC`,
    [experimentIds],
  );
  for (const r of rows) out.set(String(r.experiment_id), { version: Number(r.version), digest: String(r.digest) });
  return out;
}

export async function modelDigests(db: SqlExecutor, experimentId: string): Promise<Map<number, string>> {
  const { rows } = await db.query<Row>(`SELECT version, digest FROM fl_models WHERE experiment_id = $1`, [experimentId]);
  return new Map(rows.map((r) => [Number(r.version), String(r.digest)]));
}

export async function insertRound(db: SqlExecutor, r: { experimentId: string; round: number; baseVersion: number; now: Date; deadlineAt: Date }): Promise<void> {
  await db.query(
    `INSERT INTO fl_rounds (experiment_id, round, state, base_version, started_at, deadline_at) VALUES ($1, $2, 'opening', $3, $4, $5)`,
    [r.experimentId, r.round, r.baseVersion, r.now, r.deadlineAt],
  );
}

export async function getRound(db: SqlExecutor, experimentId: string, round: number): Promise<RoundRecord | null> {
  const { rows } = await db.query<Row>(`SELECT ${R_COLUMNS} FROM fl_rounds WHERE experiment_id = $1 AND round = $2`, [experimentId, round]);
  return rows[0] ? roundFromRow(rows[0]) : null;
}

export async function listRounds(db: SqlExecutor, experimentId: string): Promise<RoundRecord[]> {
  const { rows } = await db.query<Row>(`SELECT ${R_COLUMNS} FROM fl_rounds WHERE experiment_id = $1 ORDER BY round`, [experimentId]);
  return rows.map(roundFromRow);
}

export async function setRound(
  db: SqlExecutor,
  experimentId: string,
  round: number,
  change: { state: RoundState; reason?: string | null; modelVersion?: number; openedAt?: Date; closedAt?: Date; finishedAt?: Date },
): Promise<void> {
  await db.query(
    `UPDATE fl_rounds SET state = $3, reason = COALESCE($4, reason), model_version = COALESCE($5, model_version),
            opened_at = COALESCE($6, opened_at), closed_at = COALESCE($7, closed_at), finished_at = COALESCE($8, finished_at)
      WHERE experiment_id = $1 AND round = $2`,
    [experimentId, round, change.state, change.reason ?? null, change.modelVersion ?? null, change.openedAt ?? null, change.closedAt ?? null, change.finishedAt ?? null],
  );
}

export async function insertUpdate(db: SqlExecutor, u: { experimentId: string; round: number; propletId: string }): Promise<void> {
  await db.query(`INSERT INTO fl_updates (experiment_id, round, proplet_id, state) VALUES ($1, $2, $3, 'pending') ON CONFLICT DO NOTHING`, [u.experimentId, u.round, u.propletId]);
}

export async function listUpdates(db: SqlExecutor, experimentId: string, round?: number): Promise<UpdateRecord[]> {
  const params: unknown[] = [experimentId];
  let where = "experiment_id = $1";
  if (round !== undefined) {
    params.push(round);
    where += " AND round = $2";
  }
  const { rows } = await db.query<Row>(`SELECT ${U_COLUMNS} FROM fl_updates WHERE ${where} ORDER BY round, proplet_id`, params);
  return rows.map(updateFromRow);
}

/**
 * Records a participant's task for a round, only if none is recorded yet: the caller queues the
 * task's run only when this returns true (so two managers never queue one round's run twice).
 */
export async function bindTask(db: SqlExecutor, experimentId: string, round: number, propletId: string, taskId: string): Promise<boolean> {
  const { rows } = await db.query<Row>(
    `UPDATE fl_updates SET task_id = $4 WHERE experiment_id = $1 AND round = $2 AND proplet_id = $3 AND task_id IS NULL RETURNING proplet_id`,
    [experimentId, round, propletId, taskId],
  );
  return rows.length === 1;
}

export async function setUpdate(
  db: SqlExecutor,
  key: { experimentId: string; round: number; propletId: string },
  change: { state: UpdateState; reason?: string | null; runId?: string | null; digest?: string | null; samples?: number | null; attested?: boolean | null; weights?: number[] | null; finishedAt: Date },
): Promise<void> {
  await db.query(
    `UPDATE fl_updates SET state = $4, reason = $5, run_id = COALESCE($6, run_id), digest = $7, samples = $8, attested = $9, weights = $10::jsonb, finished_at = $11
      WHERE experiment_id = $1 AND round = $2 AND proplet_id = $3 AND state = 'pending'`,
    [
      key.experimentId,
      key.round,
      key.propletId,
      change.state,
      change.reason ?? null,
      change.runId ?? null,
      change.digest ?? null,
      change.samples ?? null,
      change.attested ?? null,
      change.weights ? JSON.stringify(change.weights) : null,
      change.finishedAt,
    ],
  );
}

/** Claims the round's secure aggregation for `session`, only if no manager did: true when this call claimed it. */
export async function claimSecAggSession(db: SqlExecutor, experimentId: string, round: number, session: string, record: SecAggRecord): Promise<boolean> {
  const { rows } = await db.query<Row>(
    `UPDATE fl_rounds SET secagg_session = $3, secagg = $4::jsonb WHERE experiment_id = $1 AND round = $2 AND state = 'aggregating' AND secagg_session IS NULL RETURNING round`,
    [experimentId, round, session, JSON.stringify(record)],
  );
  return rows.length === 1;
}

export async function setRoundSecAgg(db: SqlExecutor, experimentId: string, round: number, record: SecAggRecord): Promise<void> {
  await db.query(`UPDATE fl_rounds SET secagg = $3::jsonb WHERE experiment_id = $1 AND round = $2`, [experimentId, round, JSON.stringify(record)]);
}

/** An accepted (held) update whose owner left the secure aggregation: now rejected or missing, with why. */
export async function demoteUpdate(db: SqlExecutor, key: { experimentId: string; round: number; propletId: string }, state: "rejected" | "missing", reason: string): Promise<void> {
  await db.query(`UPDATE fl_updates SET state = $4, reason = $5 WHERE experiment_id = $1 AND round = $2 AND proplet_id = $3 AND state = 'accepted'`, [
    key.experimentId,
    key.round,
    key.propletId,
    state,
    reason,
  ]);
}
