/** SQL of the api_keys table (migration 0003). Hashes go in; hashes never come out of this module's list. */
import { columnDate, columnDateOrNull, columnJson, type Row, type SqlExecutor } from "../../db/index.js";
import { isScope, type Scope } from "./scopes.js";

export interface ApiKeyRecord {
  id: string;
  name: string;
  scopes: Scope[];
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

const COLUMNS = "id, name, scopes, created_at, last_used_at, revoked_at";


function fromRow(r: Row): ApiKeyRecord {
  const scopes = columnJson<unknown[]>(r.scopes);
  return {
    id: String(r.id),
    name: String(r.name),
    // A scope this version does not know grants nothing.
    scopes: scopes.filter(isScope),
    createdAt: columnDate(r.created_at),
    lastUsedAt: columnDateOrNull(r.last_used_at),
    revokedAt: columnDateOrNull(r.revoked_at),
  };
}

/** Inserts a key; false when its id exists already (the row is left as it is). */
export async function insertKey(db: SqlExecutor, k: { id: string; name: string; scopes: Scope[]; hash: string; now: Date }): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO api_keys (id, name, scopes, key_hash, created_at) VALUES ($1, $2, $3::jsonb, $4, $5) ON CONFLICT (id) DO NOTHING`,
    [k.id, k.name, JSON.stringify(k.scopes), k.hash, k.now],
  );
  return rowCount > 0;
}

/** The key and its hash, for checking a presented key. */
export async function findForCheck(db: SqlExecutor, id: string): Promise<{ record: ApiKeyRecord; hash: string } | null> {
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS}, key_hash FROM api_keys WHERE id = $1`, [id]);
  const row = rows[0];
  return row ? { record: fromRow(row), hash: String(row.key_hash) } : null;
}

export async function listKeys(db: SqlExecutor): Promise<ApiKeyRecord[]> {
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM api_keys ORDER BY created_at, id`);
  return rows.map(fromRow);
}

export async function countActive(db: SqlExecutor): Promise<number> {
  const { rows } = await db.query<{ n: unknown }>("SELECT count(*) AS n FROM api_keys WHERE revoked_at IS NULL");
  return Number(rows[0]?.n ?? 0);
}

/** Revokes a key (idempotent: the first revocation time stays); null when there is no such key. */
export async function revokeKey(db: SqlExecutor, id: string, now: Date): Promise<ApiKeyRecord | null> {
  const { rows } = await db.query<Row>(
    `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, now],
  );
  return rows[0] ? fromRow(rows[0]) : null;
}

export async function touchKey(db: SqlExecutor, id: string, now: Date): Promise<void> {
  await db.query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1", [id, now]);
}
