/**
 * The one seam between every store and its database. Two implementations: PostgreSQL through `pg`
 * (production) and PGlite (embedded default). Stores hold SQL; they never ask which one they have.
 */
export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

export interface SqlExecutor {
  /** One parameterised statement ($1, $2, …). */
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
}

export interface Database extends SqlExecutor {
  readonly kind: "postgres" | "pglite";
  /** Several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
  /** Runs `fn` in a transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
