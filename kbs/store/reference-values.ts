import type { SqlExecutor } from "../../db/index.js";
import type { ReferenceValue } from "../../attestation/appraisal/index.js";

interface Row {
  id: string;
  tee: string;
  claim: string;
  value: unknown;
  expires_at: Date;
  note: string | null;
  created_at: Date;
  created_by: string;
}

/** Reference values per TEE. Expired rows are kept (appraisal reports them as expired, not as unknown). */
export class ReferenceValueStore {
  constructor(private readonly db: SqlExecutor) {}

  async add(rv: { tee: string; claim: string; value: unknown; expiresAt: Date; note?: string | undefined }, actor: string): Promise<ReferenceValue> {
    const r = await this.db.query<Row>(
      `INSERT INTO kbs_reference_values (tee, claim, value, expires_at, note, created_by) VALUES ($1, $2, $3, $4, $5, $6)
       RETURNING id, tee, claim, value, expires_at, note, created_at, created_by`,
      [rv.tee, rv.claim, JSON.stringify(rv.value), rv.expiresAt.toISOString(), rv.note ?? null, actor],
    );
    return toReferenceValue(r.rows[0]!);
  }

  async forTee(tee: string): Promise<ReferenceValue[]> {
    const r = await this.db.query<Row>(
      "SELECT id, tee, claim, value, expires_at, note, created_at, created_by FROM kbs_reference_values WHERE tee = $1 ORDER BY claim, created_at LIMIT 10000",
      [tee],
    );
    return r.rows.map(toReferenceValue);
  }

  async list(tee?: string): Promise<ReferenceValue[]> {
    const r = await this.db.query<Row>(
      "SELECT id, tee, claim, value, expires_at, note, created_at, created_by FROM kbs_reference_values WHERE ($1::text IS NULL OR tee = $1) ORDER BY tee, claim, created_at LIMIT 10000",
      [tee ?? null],
    );
    return r.rows.map(toReferenceValue);
  }

  async delete(id: string): Promise<boolean> {
    return (await this.db.query("DELETE FROM kbs_reference_values WHERE id = $1", [id])).rowCount > 0;
  }
}

function toReferenceValue(row: Row): ReferenceValue {
  return {
    id: row.id,
    tee: row.tee,
    claim: row.claim,
    value: typeof row.value === "string" && /^[[{"]/.test(row.value) ? (JSON.parse(row.value) as unknown) : row.value,
    expiresAt: new Date(row.expires_at).toISOString(),
    note: row.note ?? undefined,
    createdAt: new Date(row.created_at).toISOString(),
    createdBy: row.created_by,
  };
}
