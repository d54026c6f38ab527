import { PGlite } from "@electric-sql/pglite";
import type { Database, QueryResult, SqlExecutor } from "./database.js";

/**
 * Embedded PostgreSQL (PGlite): the same SQL and migrations as production, nothing to install.
 * One connection: statements are serialised, transactions hold the connection.
 */
export class PgliteDatabase implements Database {
  readonly kind = "pglite" as const;

  private constructor(private readonly db: PGlite) {}

  /** `dataDir` undefined → in memory; otherwise a folder that persists across restarts. */
  static async open(dataDir?: string): Promise<PgliteDatabase> {
    const db = await PGlite.create(dataDir === undefined ? {} : { dataDir });
    return new PgliteDatabase(db);
  }

  async query<R>(text: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
    const result = await this.db.query<R>(text, params as unknown[]);
    return { rows: result.rows, rowCount: rowCountOf(result) };
  }

  async exec(sql: string): Promise<void> {
    await this.db.exec(sql);
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.db.transaction(async (tx) =>
      fn({
        async query<R>(text: string, params: readonly unknown[] = []) {
          const result = await tx.query<R>(text, params as unknown[]);
          return { rows: result.rows, rowCount: rowCountOf(result) };
        },
      }),
    );
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

/** PGlite reports affectedRows 0 for a SELECT; a statement that returns rows counts its rows, as pg does. */
function rowCountOf(result: { rows: unknown[]; fields: unknown[]; affectedRows?: number }): number {
  return result.fields.length > 0 ? result.rows.length : (result.affectedRows ?? 0);
}
