/** SQL of functions and their placements. */
import { columnDate as date, columnJson as json, type Row, type SqlExecutor } from "../../db/index.js";
import type { ArtifactSpec } from "../tasks/model.js";

export interface FunctionSpec {
  export: string;
  runtime: "wasi-p1";
  instances: number;
  replicas: number;
  memoryBytes: number;
  tags: string[];
  artifact: ArtifactSpec;
}

export interface FunctionRecord {
  id: string;
  name: string;
  spec: FunctionSpec;
  generation: number;
  createdAt: Date;
}

export interface PlacementRecord {
  functionId: string;
  propletId: string;
  generation: number;
  state: "deploying" | "ready" | "failed";
  error: string | null;
  propletConnectedAt: Date;
}

const F_COLUMNS = "id, name, spec, generation, created_at";

function fnFromRow(r: Row): FunctionRecord {
  return {
    id: String(r.id),
    name: String(r.name),
    spec: json<FunctionSpec>(r.spec),
    generation: Number(r.generation),
    createdAt: date(r.created_at),
  };
}

function placementFromRow(r: Row): PlacementRecord {
  return {
    functionId: String(r.function_id),
    propletId: String(r.proplet_id),
    generation: Number(r.generation),
    state: r.state as PlacementRecord["state"],
    error: (r.error as string | null) ?? null,
    propletConnectedAt: date(r.proplet_connected_at),
  };
}

export async function insertFunction(
  db: SqlExecutor,
  f: { id: string; name: string; spec: FunctionSpec; artifact: Buffer | null; now: Date },
): Promise<FunctionRecord> {
  const { rows } = await db.query<Row>(
    `INSERT INTO functions (id, name, spec, artifact, generation, created_at, updated_at) VALUES ($1, $2, $3::jsonb, $4, 0, $5, $5) RETURNING ${F_COLUMNS}`,
    [f.id, f.name, JSON.stringify(f.spec), f.artifact, f.now],
  );
  return fnFromRow(rows[0]!);
}

export async function getFunctionByName(db: SqlExecutor, name: string): Promise<FunctionRecord | null> {
  const { rows } = await db.query<Row>(`SELECT ${F_COLUMNS} FROM functions WHERE name = $1`, [name]);
  return rows[0] ? fnFromRow(rows[0]) : null;
}

export async function getFunction(db: SqlExecutor, id: string, options: { forUpdate?: boolean } = {}): Promise<FunctionRecord | null> {
  const { rows } = await db.query<Row>(`SELECT ${F_COLUMNS} FROM functions WHERE id = $1${options.forUpdate ? " FOR UPDATE" : ""}`, [id]);
  return rows[0] ? fnFromRow(rows[0]) : null;
}

export async function listFunctions(db: SqlExecutor): Promise<FunctionRecord[]> {
  const { rows } = await db.query<Row>(`SELECT ${F_COLUMNS} FROM functions ORDER BY name LIMIT 1000`);
  return rows.map(fnFromRow);
}

export async function deleteFunction(db: SqlExecutor, id: string): Promise<void> {
  await db.query("DELETE FROM functions WHERE id = $1", [id]);
}

export async function getArtifactBytes(db: SqlExecutor, id: string): Promise<Buffer | null> {
  const { rows } = await db.query<{ artifact: Uint8Array | null }>("SELECT artifact FROM functions WHERE id = $1", [id]);
  const a = rows[0]?.artifact;
  return a ? Buffer.from(a) : null;
}

export async function setGeneration(db: SqlExecutor, id: string, generation: number, now: Date): Promise<void> {
  await db.query("UPDATE functions SET generation = $2, updated_at = $3 WHERE id = $1", [id, generation, now]);
}

export async function listPlacements(db: SqlExecutor, functionId: string): Promise<PlacementRecord[]> {
  const { rows } = await db.query<Row>(
    "SELECT function_id, proplet_id, generation, state, error, proplet_connected_at FROM function_placements WHERE function_id = $1 ORDER BY proplet_id",
    [functionId],
  );
  return rows.map(placementFromRow);
}

export async function upsertPlacement(
  db: SqlExecutor,
  p: { functionId: string; propletId: string; generation: number; propletConnectedAt: Date; now: Date },
): Promise<void> {
  await db.query(
    `INSERT INTO function_placements (function_id, proplet_id, generation, state, error, proplet_connected_at, updated_at)
     VALUES ($1, $2, $3, 'deploying', NULL, $4, $5)
     ON CONFLICT (function_id, proplet_id) DO UPDATE SET generation = EXCLUDED.generation, state = 'deploying', error = NULL,
       proplet_connected_at = EXCLUDED.proplet_connected_at, updated_at = EXCLUDED.updated_at`,
    [p.functionId, p.propletId, p.generation, p.propletConnectedAt, p.now],
  );
}

/** A proplet's report about one generation; a report about an older generation changes nothing. */
export async function setPlacementState(
  db: SqlExecutor,
  functionId: string,
  propletId: string,
  generation: number,
  state: "ready" | "failed",
  error: string | null,
  now: Date,
): Promise<void> {
  await db.query(
    "UPDATE function_placements SET state = $4, error = $5, updated_at = $6 WHERE function_id = $1 AND proplet_id = $2 AND generation = $3",
    [functionId, propletId, generation, state, error, now],
  );
}
