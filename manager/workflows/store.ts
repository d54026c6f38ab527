/** SQL of workflows and their nodes (PostgreSQL and PGlite alike). */
import { columnDate as date, columnDateOrNull as dateOrNull, columnJson as json, type Row, type SqlExecutor } from "../../db/index.js";
import type { NodeState, OnFailure, RunIf } from "./graph.js";

export type WorkflowKind = "workflow" | "job";
export type WorkflowState = "created" | "running" | "completed" | "failed" | "stopped";
export type PassResults = "none" | "stdin" | "args";

export interface WorkflowRecord {
  id: string;
  seq: number;
  kind: WorkflowKind;
  name: string;
  mode: "parallel" | "sequential" | null;
  state: WorkflowState;
  reason: string | null;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface NodeRecord {
  workflowId: string;
  position: number;
  name: string;
  taskId: string | null;
  dependsOn: string[];
  runIf: RunIf;
  onFailure: OnFailure;
  passResults: PassResults;
  state: NodeState;
  reason: string | null;
  startedAt: Date | null;
  finishedAt: Date | null;
}


const W_COLUMNS = "id, seq, kind, name, mode, state, reason, created_at, updated_at, started_at, finished_at";
const N_COLUMNS = "workflow_id, position, name, task_id, depends_on, run_if, on_failure, pass_results, state, reason, started_at, finished_at";

function workflowFromRow(r: Row): WorkflowRecord {
  return {
    id: String(r.id),
    seq: Number(r.seq),
    kind: r.kind as WorkflowKind,
    name: String(r.name),
    mode: (r.mode as WorkflowRecord["mode"]) ?? null,
    state: r.state as WorkflowState,
    reason: (r.reason as string | null) ?? null,
    createdAt: date(r.created_at),
    updatedAt: date(r.updated_at),
    startedAt: dateOrNull(r.started_at),
    finishedAt: dateOrNull(r.finished_at),
  };
}

function nodeFromRow(r: Row): NodeRecord {
  return {
    workflowId: String(r.workflow_id),
    position: Number(r.position),
    name: String(r.name),
    taskId: (r.task_id as string | null) ?? null,
    dependsOn: json<string[]>(r.depends_on),
    runIf: r.run_if as RunIf,
    onFailure: r.on_failure as OnFailure,
    passResults: r.pass_results as PassResults,
    state: r.state as NodeState,
    reason: (r.reason as string | null) ?? null,
    startedAt: dateOrNull(r.started_at),
    finishedAt: dateOrNull(r.finished_at),
  };
}

export async function insertWorkflow(
  db: SqlExecutor,
  w: { id: string; kind: WorkflowKind; name: string; mode: WorkflowRecord["mode"]; now: Date },
): Promise<WorkflowRecord> {
  const { rows } = await db.query<Row>(
    `INSERT INTO workflows (id, kind, name, mode, state, created_at, updated_at) VALUES ($1, $2, $3, $4, 'created', $5, $5) RETURNING ${W_COLUMNS}`,
    [w.id, w.kind, w.name, w.mode, w.now],
  );
  return workflowFromRow(rows[0]!);
}

export async function insertNode(db: SqlExecutor, n: Omit<NodeRecord, "state" | "reason" | "startedAt" | "finishedAt">): Promise<void> {
  await db.query(
    `INSERT INTO workflow_nodes (workflow_id, position, name, task_id, depends_on, run_if, on_failure, pass_results, state)
     VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, 'waiting')`,
    [n.workflowId, n.position, n.name, n.taskId, JSON.stringify(n.dependsOn), n.runIf, n.onFailure, n.passResults],
  );
}

export async function getWorkflow(db: SqlExecutor, id: string, options: { forUpdate?: boolean; kind?: WorkflowKind } = {}): Promise<WorkflowRecord | null> {
  const params: unknown[] = [id];
  let where = "id = $1";
  if (options.kind) {
    params.push(options.kind);
    where += " AND kind = $2";
  }
  const { rows } = await db.query<Row>(`SELECT ${W_COLUMNS} FROM workflows WHERE ${where}${options.forUpdate ? " FOR UPDATE" : ""}`, params);
  return rows[0] ? workflowFromRow(rows[0]) : null;
}

/** Newest first; `afterSeq` is the cursor. */
export async function listWorkflows(
  db: SqlExecutor,
  q: { kind: WorkflowKind; state?: WorkflowState; limit: number; afterSeq?: number },
): Promise<WorkflowRecord[]> {
  const params: unknown[] = [q.kind];
  const where = ["kind = $1"];
  if (q.state) {
    params.push(q.state);
    where.push(`state = $${params.length}`);
  }
  if (q.afterSeq !== undefined) {
    params.push(q.afterSeq);
    where.push(`seq < $${params.length}`);
  }
  params.push(q.limit);
  const { rows } = await db.query<Row>(`SELECT ${W_COLUMNS} FROM workflows WHERE ${where.join(" AND ")} ORDER BY seq DESC LIMIT $${params.length}`, params);
  return rows.map(workflowFromRow);
}

/** Running workflows, locked; others' locks skipped (one manager advances a workflow at a time). */
export async function claimRunning(db: SqlExecutor, limit: number): Promise<WorkflowRecord[]> {
  const { rows } = await db.query<Row>(
    `SELECT ${W_COLUMNS} FROM workflows WHERE state = 'running' ORDER BY updated_at LIMIT $1 FOR UPDATE SKIP LOCKED`,
    [limit],
  );
  return rows.map(workflowFromRow);
}

export async function setWorkflowState(
  db: SqlExecutor,
  id: string,
  change: { state: WorkflowState; reason?: string | null; now: Date; startedAt?: Date; finishedAt?: Date },
): Promise<void> {
  await db.query(
    `UPDATE workflows SET state = $2, reason = COALESCE($3, reason), updated_at = $4,
            started_at = COALESCE($5, started_at), finished_at = COALESCE($6, finished_at) WHERE id = $1`,
    [id, change.state, change.reason ?? null, change.now, change.startedAt ?? null, change.finishedAt ?? null],
  );
}

export async function listNodes(db: SqlExecutor, workflowId: string): Promise<NodeRecord[]> {
  const { rows } = await db.query<Row>(`SELECT ${N_COLUMNS} FROM workflow_nodes WHERE workflow_id = $1 ORDER BY position`, [workflowId]);
  return rows.map(nodeFromRow);
}

export async function nodesOf(db: SqlExecutor, workflowIds: readonly string[]): Promise<NodeRecord[]> {
  if (workflowIds.length === 0) return [];
  const { rows } = await db.query<Row>(`SELECT ${N_COLUMNS} FROM workflow_nodes WHERE workflow_id = ANY($1::text[]) ORDER BY workflow_id, position`, [workflowIds]);
  return rows.map(nodeFromRow);
}

export async function setNodeState(
  db: SqlExecutor,
  workflowId: string,
  name: string,
  change: { state: NodeState; reason?: string | null; startedAt?: Date; finishedAt?: Date },
): Promise<void> {
  await db.query(
    `UPDATE workflow_nodes SET state = $3, reason = COALESCE($4, reason), started_at = COALESCE($5, started_at), finished_at = COALESCE($6, finished_at)
      WHERE workflow_id = $1 AND name = $2`,
    [workflowId, name, change.state, change.reason ?? null, change.startedAt ?? null, change.finishedAt ?? null],
  );
}
