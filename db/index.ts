export type { Database, SqlExecutor, QueryResult } from "./database.js";
export { PostgresDatabase, type PostgresOptions } from "./postgres.js";
export { PgliteDatabase } from "./pglite.js";
export { openDatabase, redactUrl } from "./open.js";
export { migrate, splitStatements, type MigrationReport } from "./migrate.js";
export { migrationsDir } from "./migrations-dir.js";
export { columnDate, columnDateOrNull, columnJson, columnNumberOrNull, type Row } from "./columns.js";
export { databaseTrouble, troubleMessage, type DatabaseTrouble } from "./errors.js";
