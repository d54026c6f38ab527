import type { SqlExecutor } from "../../db/index.js";

export type AuditEvent =
  | "auth"
  | "attest"
  | "release"
  | "deny"
  | "admin";

export interface AuditRecord {
  event: AuditEvent;
  outcome: "ok" | "denied" | "error";
  /** Who: a session id, a token's jti, an admin key id. */
  actor?: string | undefined;
  /** What: a resource path, a TEE, an admin route. */
  subject?: string | undefined;
  /** Why (for a denial, the same explanation the caller got). */
  reason?: string | undefined;
  client?: string | undefined;
  /** Never a secret: callers pass identifiers, statuses and digests only. */
  details?: Record<string, unknown> | undefined;
}

export interface AuditRow extends Required<Omit<AuditRecord, "details">> {
  id: number;
  at: string;
  details: Record<string, unknown> | null;
}

/** The append-only audit log (the table refuses UPDATE, DELETE and TRUNCATE). */
export class AuditLog {
  constructor(private readonly db: SqlExecutor) {}

  async record(entry: AuditRecord): Promise<void> {
    await this.db.query(
      "INSERT INTO kbs_audit (event, outcome, actor, subject, reason, client, details) VALUES ($1, $2, $3, $4, $5, $6, $7)",
      [entry.event, entry.outcome, entry.actor ?? null, entry.subject ?? null, entry.reason?.slice(0, 4000) ?? null, entry.client ?? null, entry.details ? JSON.stringify(entry.details) : null],
    );
  }

  /** Newest first, keyset-paginated by id. */
  async recent(options: { limit: number; beforeId?: number; event?: AuditEvent }): Promise<AuditRow[]> {
    const r = await this.db.query<AuditRow & { at: Date }>(
      `SELECT id, at, event, outcome, actor, subject, reason, client, details FROM kbs_audit
       WHERE ($1::bigint IS NULL OR id < $1) AND ($2::text IS NULL OR event = $2) ORDER BY id DESC LIMIT $3`,
      [options.beforeId ?? null, options.event ?? null, options.limit],
    );
    return r.rows.map((row) => ({ ...row, at: new Date(row.at).toISOString() }));
  }
}
