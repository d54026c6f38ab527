/** SQL of the auth_failures table: failed authentications counted across every manager on the database. */
import type { SqlExecutor } from "../../db/index.js";

/** One more failure of `client`; the shared count and when its window ends (the database's clock). */
export async function countFailure(db: SqlExecutor, client: string, windowMs: number): Promise<{ count: number; resetAt: number }> {
  const { rows } = await db.query<{ count: number; reset_at_ms: string | number }>(
    `INSERT INTO auth_failures AS f (client, count, window_end) VALUES ($1, 1, clock_timestamp() + make_interval(secs => $2 / 1000.0))
     ON CONFLICT (client) DO UPDATE SET
       count = CASE WHEN f.window_end <= clock_timestamp() THEN 1 ELSE f.count + 1 END,
       window_end = CASE WHEN f.window_end <= clock_timestamp() THEN EXCLUDED.window_end ELSE f.window_end END
     RETURNING count, floor(extract(epoch FROM window_end) * 1000) AS reset_at_ms`,
    [client.slice(0, 256), windowMs],
  );
  return { count: Number(rows[0]!.count), resetAt: Number(rows[0]!.reset_at_ms) };
}

/** Drops windows that ended more than `graceSeconds` ago. */
export async function purgeFailures(db: SqlExecutor, graceSeconds = 60): Promise<number> {
  const r = await db.query("DELETE FROM auth_failures WHERE window_end < clock_timestamp() - make_interval(secs => $1)", [graceSeconds]);
  return r.rowCount;
}
