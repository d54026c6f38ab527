import type { SqlExecutor } from "../../db/index.js";

/** Stores inline artifact bytes under their digest (idempotent: the same bytes are kept once). */
export async function putArtifact(db: SqlExecutor, digest: string, data: Uint8Array): Promise<void> {
  await db.query("INSERT INTO artifacts (digest, size, data) VALUES ($1, $2, $3) ON CONFLICT (digest) DO NOTHING", [
    digest,
    data.byteLength,
    data,
  ]);
}

export async function getArtifact(db: SqlExecutor, digest: string): Promise<Buffer | null> {
  const { rows } = await db.query<{ data: Uint8Array }>("SELECT data FROM artifacts WHERE digest = $1", [digest]);
  const row = rows[0];
  return row ? Buffer.from(row.data.buffer, row.data.byteOffset, row.data.byteLength) : null;
}

/** Removes an artifact no task refers to any more. */
export async function dropArtifactIfUnused(db: SqlExecutor, digest: string): Promise<void> {
  await db.query("DELETE FROM artifacts WHERE digest = $1 AND NOT EXISTS (SELECT 1 FROM tasks WHERE artifact_digest = $1)", [digest]);
}
