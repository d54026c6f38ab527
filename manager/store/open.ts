import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { migrate, openDatabase, type Database } from "../../db/index.js";

/**
 * The manager's SQL migrations: `<repo>/migrations/manager`, reached from the sources
 * (manager/store/) and from the compiled output (dist/manager/store/) alike.
 */
export const MANAGER_MIGRATIONS_DIR = [
  new URL("../../migrations/manager", import.meta.url),
  new URL("../../../migrations/manager", import.meta.url),
]
  .map((u) => fileURLToPath(u))
  .find((dir) => existsSync(dir)) ?? fileURLToPath(new URL("../../migrations/manager", import.meta.url));

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
