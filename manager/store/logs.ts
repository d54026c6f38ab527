import type { SqlExecutor } from "../../db/index.js";

export interface LogChunkRecord {
  runId: string;
  seq: number;
  stream: "stdout" | "stderr";
  data: Buffer;
  at: Date;
}

/** Stores one chunk; false when that seq of the run was already stored (a redelivery). */
export async function insertLogChunk(db: SqlExecutor, c: LogChunkRecord): Promise<boolean> {
  const { rowCount } = await db.query("INSERT INTO run_logs (run_id, seq, stream, data, at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (run_id, seq) DO NOTHING", [
    c.runId,
    c.seq,
    c.stream,
    c.data,
    c.at,
  ]);
  return rowCount > 0;
}

/** Chunks of a run with seq > `after`, in seq order, at most `limit`. */
export async function listLogChunks(db: SqlExecutor, runId: string, after: number, limit: number): Promise<LogChunkRecord[]> {
  const { rows } = await db.query<{ seq: number; stream: "stdout" | "stderr"; data: Buffer | Uint8Array; at: Date | string }>(
    "SELECT seq, stream, data, at FROM run_logs WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    [runId, after, limit],
  );
  return rows.map((r) => ({ runId, seq: Number(r.seq), stream: r.stream, data: Buffer.from(r.data), at: new Date(r.at) }));
}

/** Bytes of live output stored for a run (bounds what one run may store). */
export async function logBytes(db: SqlExecutor, runId: string): Promise<number> {
  const { rows } = await db.query<{ n: number | string | null }>("SELECT sum(length(data)) AS n FROM run_logs WHERE run_id = $1", [runId]);
  return Number(rows[0]?.n ?? 0);
}
