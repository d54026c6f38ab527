import type { Database } from "./database.js";
import { PgliteDatabase } from "./pglite.js";
import { PostgresDatabase } from "./postgres.js";

/**
 * Opens a database from a URL:
 * - `postgres://…` / `postgresql://…`: PostgreSQL through `pg`;
 * - `pglite://memory`: embedded, in memory;
 * - `pglite:///absolute/folder` or `pglite://./relative/folder`: embedded, persisted in that folder.
 */
export async function openDatabase(url: string): Promise<Database> {
  if (/^postgres(ql)?:\/\//.test(url)) return new PostgresDatabase({ connectionString: url });
  if (url === "pglite://memory" || url === "pglite:") return PgliteDatabase.open();
  if (url.startsWith("pglite://")) return PgliteDatabase.open(url.slice("pglite://".length));
  throw new Error(
    `unsupported database URL "${redactUrl(url)}": use postgres://user@host:port/db, pglite://memory or pglite://<folder>`,
  );
}

/** The URL with any password replaced, for logs and error messages. */
export function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]+:)[^@]*@/, "$1***@");
}
