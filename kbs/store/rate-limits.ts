/**
 * The rate limit's counts in the database (@fastify/rate-limit's store interface), so that every
 * KBS process on one database enforces one limit per client: with two replicas behind a load
 * balancer a client still gets `max` requests per window, not `max` from each.
 *
 * One statement per counted request: an upsert that starts a new window when the old one has
 * ended and otherwise adds one, returning the count and what is left of the window. The clock is
 * the database's, so replicas with skewed clocks agree.
 */
import type { SqlExecutor } from "../../db/index.js";

type Callback = (error: Error | null, result?: { current: number; ttl: number }) => void;

/** Longest key kept: the route and the client address, well within this. */
const MAX_KEY_CHARS = 512;

export class DatabaseRateLimitStore {
  constructor(
    private readonly db: SqlExecutor,
    /** Prefix of every key: the route, so each route counts on its own. */
    private readonly namespace = "",
  ) {}

  incr(key: string, callback: Callback, timeWindow: number): void {
    const full = `${this.namespace}${key}`.slice(0, MAX_KEY_CHARS);
    this.db
      .query<{ count: number; ttl_ms: string | number }>(
        `INSERT INTO kbs_rate_limits AS r (key, count, window_end) VALUES ($1, 1, clock_timestamp() + make_interval(secs => $2 / 1000.0))
         ON CONFLICT (key) DO UPDATE SET
           count = CASE WHEN r.window_end <= clock_timestamp() THEN 1 ELSE r.count + 1 END,
           window_end = CASE WHEN r.window_end <= clock_timestamp() THEN EXCLUDED.window_end ELSE r.window_end END
         RETURNING count, ceil(extract(epoch FROM (window_end - clock_timestamp())) * 1000) AS ttl_ms`,
        [full, timeWindow],
      )
      .then(
        ({ rows }) => callback(null, { current: Number(rows[0]!.count), ttl: Math.max(0, Number(rows[0]!.ttl_ms)) }),
        (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
      );
  }

  /**
   * Each route its own count: the plugin calls this once per rate-limited route, with the route's
   * options under `routeInfo` (its declared type omits that member, hence the narrowing here).
   */
  child(routeOptions: object): DatabaseRateLimitStore {
    const info = (routeOptions as { routeInfo?: { method?: unknown; url?: unknown } }).routeInfo;
    const route = `${String(info?.method ?? "")} ${String(info?.url ?? "")}`;
    return new DatabaseRateLimitStore(this.db, `${this.namespace}${route} `);
  }

  /** Drops windows that ended more than `graceSeconds` ago (they would start afresh anyway). */
  static async purgeExpired(db: SqlExecutor, graceSeconds = 60): Promise<number> {
    const r = await db.query(
      "DELETE FROM kbs_rate_limits WHERE window_end < clock_timestamp() - make_interval(secs => $1)",
      [graceSeconds],
    );
    return r.rowCount;
  }
}
