import type { SqlExecutor } from "../../db/index.js";
import type { Envelope } from "../crypto/envelope.js";

export interface ResourceMetadata {
  path: string;
  size: number;
  contentType: string | null;
  createdAt: string;
  updatedAt: string;
  updatedBy: string;
  hasPolicy: boolean;
}

interface MetadataRow {
  path: string;
  size: number;
  content_type: string | null;
  created_at: Date;
  updated_at: Date;
  updated_by: string;
  has_policy: boolean;
}

const METADATA = `r.path, r.size, r.content_type, r.created_at, r.updated_at, r.updated_by,
  EXISTS (SELECT 1 FROM kbs_resource_policies p WHERE p.path = r.path) AS has_policy`;

/** Resources, envelope-encrypted with the resource path as context. Only `open` ever yields bytes. */
export class ResourceStore {
  constructor(private readonly db: SqlExecutor, private readonly envelope: Envelope) {}

  async put(path: string, bytes: Uint8Array, actor: string, contentType: string | null): Promise<{ created: boolean }> {
    const sealed = this.envelope.seal(bytes, `resource:${path}`);
    const r = await this.db.query<{ created: boolean }>(
      `INSERT INTO kbs_resources (path, ciphertext, wrapped_key, master_key_id, size, content_type, updated_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (path) DO UPDATE SET ciphertext = EXCLUDED.ciphertext, wrapped_key = EXCLUDED.wrapped_key,
         master_key_id = EXCLUDED.master_key_id, size = EXCLUDED.size, content_type = EXCLUDED.content_type,
         updated_by = EXCLUDED.updated_by, updated_at = now()
       RETURNING (xmax = 0) AS created`,
      [path, sealed.ciphertext, sealed.wrappedKey, sealed.masterKeyId, bytes.byteLength, contentType, actor],
    );
    return { created: r.rows[0]?.created ?? true };
  }

  async exists(path: string): Promise<boolean> {
    return (await this.db.query("SELECT 1 FROM kbs_resources WHERE path = $1", [path])).rowCount > 0;
  }

  /** The plaintext; the caller must have decided to release it. */
  async open(path: string): Promise<Buffer | undefined> {
    const r = await this.db.query<{ ciphertext: Uint8Array; wrapped_key: Uint8Array; master_key_id: string }>(
      "SELECT ciphertext, wrapped_key, master_key_id FROM kbs_resources WHERE path = $1",
      [path],
    );
    const row = r.rows[0];
    if (!row) return undefined;
    return this.envelope.open(
      { ciphertext: Buffer.from(row.ciphertext), wrappedKey: Buffer.from(row.wrapped_key), masterKeyId: row.master_key_id },
      `resource:${path}`,
    );
  }

  async metadata(path: string): Promise<ResourceMetadata | undefined> {
    const r = await this.db.query<MetadataRow>(`SELECT ${METADATA} FROM kbs_resources r WHERE r.path = $1`, [path]);
    return r.rows[0] ? toMetadata(r.rows[0]) : undefined;
  }

  /** Paths in order, keyset-paginated (`after` is the last path of the previous page). */
  async list(options: { prefix?: string; after?: string; limit: number }): Promise<ResourceMetadata[]> {
    const r = await this.db.query<MetadataRow>(
      `SELECT ${METADATA} FROM kbs_resources r
       WHERE ($1::text IS NULL OR r.path LIKE $1 || '%') AND ($2::text IS NULL OR r.path > $2)
       ORDER BY r.path LIMIT $3`,
      [options.prefix?.replace(/[\\%_]/g, (c) => `\\${c}`) ?? null, options.after ?? null, options.limit],
    );
    return r.rows.map(toMetadata);
  }

  async delete(path: string): Promise<boolean> {
    return (await this.db.query("DELETE FROM kbs_resources WHERE path = $1", [path])).rowCount > 0;
  }
}

function toMetadata(row: MetadataRow): ResourceMetadata {
  return {
    path: row.path,
    size: row.size,
    contentType: row.content_type,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
    updatedBy: row.updated_by,
    hasPolicy: row.has_policy,
  };
}
