import type { SqlExecutor } from "../../db/index.js";

export interface SessionRow {
  id: string;
  tee: string;
  nonce: string;
  nonce_used: boolean;
  expires_at: Date;
  token: string | null;
}

/** Why a nonce could not be consumed, so the caller can say so precisely. */
export type ConsumeOutcome =
  | { ok: true; session: SessionRow }
  | { ok: false; reason: "unknown" | "expired" | "used" };

/**
 * Sessions and their single-use challenge nonces. Every statement is a primary-key lookup; the
 * nonce is consumed with one conditional UPDATE, so of several KBS replicas racing on one nonce
 * exactly one wins.
 */
export class SessionStore {
  constructor(private readonly db: SqlExecutor) {}

  async create(session: { id: string; tee: string; nonce: string; client: string; lifetimeSeconds: number }): Promise<void> {
    await this.db.query(
      "INSERT INTO kbs_sessions (id, tee, nonce, client, expires_at) VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
      [session.id, session.tee, session.nonce, session.client, session.lifetimeSeconds],
    );
  }

  async consumeNonce(id: string): Promise<ConsumeOutcome> {
    const won = await this.db.query<SessionRow>(
      "UPDATE kbs_sessions SET nonce_used = true WHERE id = $1 AND nonce_used = false AND expires_at > now() RETURNING id, tee, nonce, nonce_used, expires_at, token",
      [id],
    );
    if (won.rows[0]) return { ok: true, session: won.rows[0] };
    const seen = await this.db.query<{ used: boolean; expired: boolean }>(
      "SELECT nonce_used AS used, expires_at <= now() AS expired FROM kbs_sessions WHERE id = $1",
      [id],
    );
    const row = seen.rows[0];
    if (!row) return { ok: false, reason: "unknown" };
    return { ok: false, reason: row.expired ? "expired" : "used" };
  }

  /** Records the session's token; the session (cookie) then lives as long as the token. */
  async attach(id: string, token: string, tokenExp: number): Promise<void> {
    await this.db.query("UPDATE kbs_sessions SET token = $2, attested_at = now(), expires_at = to_timestamp($3) WHERE id = $1", [id, token, tokenExp]);
  }

  /** The session's token if the session exists and has not expired. */
  async token(id: string): Promise<{ found: boolean; expired: boolean; token: string | null }> {
    const r = await this.db.query<{ token: string | null; expired: boolean }>(
      "SELECT token, expires_at <= now() AS expired FROM kbs_sessions WHERE id = $1",
      [id],
    );
    const row = r.rows[0];
    return row ? { found: true, expired: row.expired, token: row.token } : { found: false, expired: false, token: null };
  }

  /** Deletes sessions expired for longer than `graceSeconds` (indexed range delete). */
  async purgeExpired(graceSeconds = 3600): Promise<number> {
    const r = await this.db.query("DELETE FROM kbs_sessions WHERE expires_at < now() - make_interval(secs => $1)", [graceSeconds]);
    return r.rowCount;
  }
}
