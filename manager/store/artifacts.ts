import type { SqlExecutor } from "../../db/index.js";
import { readChunked } from "../delivery/store.js";

// Bytes cross the driver as base64 text and are (de)coded by the database: PGlite takes ~10 s for
// a 4 MiB BYTEA parameter but well under 1 s for the same bytes as text.

/** Stores inline artifact bytes under their digest (idempotent: the same bytes are kept once). */
export async function putArtifact(db: SqlExecutor, digest: string, data: Uint8Array): Promise<void> {
  await db.query("INSERT INTO artifacts (digest, size, data) VALUES ($1, $2, decode($3, 'base64')) ON CONFLICT (digest) DO NOTHING", [
    digest,
    data.byteLength,
    Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("base64"),
  ]);
}

export async function getArtifact(db: SqlExecutor, digest: string): Promise<Buffer | null> {
  const { rows } = await db.query<{ data: string; chunk_size: number | null }>("SELECT encode(data, 'base64') AS data, chunk_size FROM artifacts WHERE digest = $1", [digest]);
  const row = rows[0];
  // Uploaded in chunks (manager/delivery): the same bytes, stored another way.
  if (row && row.chunk_size !== null) return readChunked(db, digest);
  // encode() wraps lines every 76 characters; Buffer.from skips the newlines.
  return row ? Buffer.from(row.data, "base64") : null;
}

/** Removes an artifact no task refers to any more. */
export async function dropArtifactIfUnused(db: SqlExecutor, digest: string): Promise<void> {
  await db.query("DELETE FROM artifacts WHERE digest = $1 AND NOT EXISTS (SELECT 1 FROM tasks WHERE artifact_digest = $1)", [digest]);
}
