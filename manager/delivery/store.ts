/**
 * SQL of artifact delivery: artifacts stored in chunks, one chunk read at a time, and the rule that
 * a proplet may only read artifacts of its own active runs. Bytes cross the driver as base64 text
 * (see store/artifacts.ts: PGlite is far faster with text than with BYTEA parameters).
 */
import type { SqlExecutor } from "../../db/index.js";

export interface StoredArtifactInfo {
  size: number;
  /** null: the bytes are in artifacts.data (an inline artifact). */
  chunkSize: number | null;
}

export async function artifactInfo(db: SqlExecutor, digest: string): Promise<StoredArtifactInfo | null> {
  const { rows } = await db.query<{ size: string | number; chunk_size: number | null }>("SELECT size, chunk_size FROM artifacts WHERE digest = $1", [digest]);
  const row = rows[0];
  return row ? { size: Number(row.size), chunkSize: row.chunk_size } : null;
}

/** Starts a chunked artifact; false when the digest is already stored (or being stored). */
export async function beginChunkedArtifact(db: SqlExecutor, digest: string, chunkSize: number): Promise<boolean> {
  const { rowCount } = await db.query("INSERT INTO artifacts (digest, size, data, chunk_size) VALUES ($1, 0, ''::bytea, $2) ON CONFLICT (digest) DO NOTHING", [digest, chunkSize]);
  return rowCount === 1;
}

export async function putChunk(db: SqlExecutor, digest: string, index: number, data: Buffer): Promise<void> {
  await db.query("INSERT INTO artifact_chunks (digest, idx, data) VALUES ($1, $2, decode($3, 'base64'))", [digest, index, data.toString("base64")]);
}

export async function finishChunkedArtifact(db: SqlExecutor, digest: string, size: number): Promise<void> {
  await db.query("UPDATE artifacts SET size = $2 WHERE digest = $1", [digest, size]);
}

/**
 * Bytes [index*chunkSize, +chunkSize) of an artifact: one stored chunk, or a slice of an inline
 * artifact's bytes (at most 4 MiB). null when the artifact or the chunk does not exist.
 */
export async function readChunk(db: SqlExecutor, digest: string, index: number, chunkSize: number): Promise<Buffer | null> {
  const { rows } = await db.query<{ data: string | null }>(
    `SELECT CASE
       WHEN a.chunk_size IS NULL THEN encode(substring(a.data FROM $2::int * $3::int + 1 FOR $3::int), 'base64')
       WHEN a.chunk_size = $3::int THEN (SELECT encode(c.data, 'base64') FROM artifact_chunks c WHERE c.digest = a.digest AND c.idx = $2::int)
     END AS data
     FROM artifacts a WHERE a.digest = $1`,
    [digest, index, chunkSize],
  );
  const data = rows[0]?.data;
  // encode() wraps lines every 76 characters; Buffer.from skips the newlines.
  return typeof data === "string" ? Buffer.from(data, "base64") : null;
}

/** The whole artifact (for inline delivery of an artifact that was uploaded in chunks; ≤ 4 MiB). */
export async function readChunked(db: SqlExecutor, digest: string): Promise<Buffer | null> {
  const { rows } = await db.query<{ data: string }>("SELECT encode(data, 'base64') AS data FROM artifact_chunks WHERE digest = $1 ORDER BY idx", [digest]);
  return rows.length > 0 ? Buffer.concat(rows.map((r) => Buffer.from(r.data, "base64"))) : null;
}

/** Does `propletId` hold an active (scheduled or running) run of a task whose artifact is `digest`? */
export async function propletHasRunOf(db: SqlExecutor, propletId: string, digest: string): Promise<boolean> {
  const { rows } = await db.query(
    "SELECT 1 FROM runs r JOIN tasks t ON t.id = r.task_id WHERE r.proplet_id = $1 AND r.state IN ('scheduled', 'running') AND t.artifact_digest = $2 LIMIT 1",
    [propletId, digest],
  );
  return rows.length > 0;
}
