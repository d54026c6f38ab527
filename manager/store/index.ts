export * as artifacts from "./artifacts.js";
export * as tasks from "./tasks.js";
export * as runs from "./runs.js";
export * as proplets from "./proplets.js";
export { openManagerDatabase, MANAGER_MIGRATIONS_DIR } from "./open.js";
export * as logs from "./logs.js";
