import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Database } from "./database.js";

export interface MigrationReport {
  applied: string[];
  alreadyApplied: string[];
}

const MIGRATION_FILE = /^(\d{4})_[a-z0-9_]+\.sql$/;

/**
 * Applies the numbered SQL files of `dir` (`0001_init.sql`, `0002_…`) that the database has not
 * recorded yet, in order, each in its own transaction, and records them in `schema_migrations`.
 * Safe to run from several processes at once: a transaction-scoped advisory lock serialises them.
 */
export async function migrate(db: Database, dir: string, scope: string): Promise<MigrationReport> {
  const files = (await readdir(dir)).filter((f) => MIGRATION_FILE.test(f)).sort();
  const numbers = files.map((f) => f.slice(0, 4));
  const duplicate = numbers.find((n, i) => numbers.indexOf(n) !== i);
  if (duplicate) throw new Error(`two migrations in ${dir} share the number ${duplicate}`);

  const lockKey = `propeller-migrate-${scope}`;
  // Under the lock too: two sessions' CREATE TABLE IF NOT EXISTS can both find no table and then
  // collide in the catalog ("duplicate key … pg_type_typname_nsp_index"), which failed managers
  // started together on an empty database.
  // (One key for every scope: the manager and the KBS may share a database and this one table.)
  await db.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock(hashtext($1))", ["propeller-migrate-bookkeeping"]);
    await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      scope TEXT NOT NULL,
      name TEXT NOT NULL,
      applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
      PRIMARY KEY (scope, name)
    )`);
  });

  const report: MigrationReport = { applied: [], alreadyApplied: [] };
  for (const file of files) {
    const sql = await readFile(join(dir, file), "utf8");
    const applied = await db.transaction(async (tx) => {
      await tx.query("SELECT pg_advisory_xact_lock(hashtext($1))", [lockKey]);
      const seen = await tx.query("SELECT 1 FROM schema_migrations WHERE scope = $1 AND name = $2", [scope, file]);
      if (seen.rowCount > 0) return false;
      for (const statement of splitStatements(sql)) await tx.query(statement);
      await tx.query("INSERT INTO schema_migrations (scope, name) VALUES ($1, $2)", [scope, file]);
      return true;
    });
    (applied ? report.applied : report.alreadyApplied).push(file);
  }
  return report;
}

/**
 * Splits a migration into statements at semicolons that end a line, outside dollar-quoted bodies.
 * (Parameterised queries take one statement; migrations are written one statement per `;` line.)
 */
export function splitStatements(sql: string): string[] {
  const statements: string[] = [];
  let current = "";
  let inDollar = false;
  for (const line of sql.split("\n")) {
    const trimmed = line.trim();
    if (!inDollar && (trimmed.startsWith("--") || trimmed === "")) continue;
    current += line + "\n";
    const dollars = line.match(/\$\$/g)?.length ?? 0;
    if (dollars % 2 === 1) inDollar = !inDollar;
    if (!inDollar && trimmed.endsWith(";")) {
      statements.push(current.trim());
      current = "";
    }
  }
  if (current.trim() !== "") statements.push(current.trim());
  return statements;
}
