import { migrate, migrationsDir, openDatabase, type Database } from "../../db/index.js";

/** The manager's SQL migrations: `<repo>/migrations/manager` (from the sources and from dist alike). */
export const MANAGER_MIGRATIONS_DIR = migrationsDir("manager");

/** Opens the manager's database and brings its schema up to date. */
export async function openManagerDatabase(url: string): Promise<Database> {
  const db = await openDatabase(url);
  try {
    await migrate(db, MANAGER_MIGRATIONS_DIR, "manager");
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
  return db;
}
