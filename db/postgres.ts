import pg from "pg";
import type { Database, QueryResult, SqlExecutor } from "./database.js";

// BIGINT (int8) as JS number where it fits: counters and sizes here stay far below 2^53.
pg.types.setTypeParser(20, (value: string) => {
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : value;
});

export interface PostgresOptions {
  connectionString: string;
  maxConnections?: number;
  /** Bound on every statement, so a stuck query cannot hang a request forever. */
  statementTimeoutMs?: number;
  connectTimeoutMs?: number;
}

export class PostgresDatabase implements Database {
  readonly kind = "postgres" as const;
  private readonly pool: pg.Pool;

  constructor(options: PostgresOptions) {
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.maxConnections ?? 10,
      statement_timeout: options.statementTimeoutMs ?? 30_000,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    });
    // An idle client losing its connection must not crash the process; the pool replaces it.
    this.pool.on("error", () => undefined);
  }

  async query<R>(text: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
    const result = await this.pool.query(text, params as unknown[]);
    return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
  }

  async exec(sql: string): Promise<void> {
    await this.pool.query(sql);
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    // A checked-out client is not the pool's to watch: if the server goes away while the
    // transaction waits on other work (a PostgreSQL restart), pg emits "error" on the client, and
    // without a listener that is an uncaught exception that ends the process (found by
    // test/chaos). The pending or next query fails instead, and the broken client is discarded.
    let lost: Error | undefined;
    const onError = (err: Error) => void (lost = err);
    client.on("error", onError);
    try {
      await client.query("BEGIN");
      const tx: SqlExecutor = {
        async query<R>(text: string, params: readonly unknown[] = []) {
          const result = await client.query(text, params as unknown[]);
          return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
        },
      };
      const value = await fn(tx);
      await client.query("COMMIT");
      return value;
    } catch (err) {
      if (!lost) await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      client.off("error", onError);
      // release(err) destroys the client rather than handing a dead connection to the next caller.
      client.release(lost);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
