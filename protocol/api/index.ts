/**
 * The manager's REST API as TypeBox schemas and their static types: request bodies, parameters,
 * queries and replies, one file per resource. The manager validates and documents (OpenAPI) with
 * these objects, and the CLI types what it sends and reads with them.
 */
export * from "./limits.js";
export * from "./errors.js";
export * from "./artifacts.js";
export * from "./receipts.js";
export * from "./runs.js";
export * from "./tasks.js";
export * from "./proplets.js";
export * from "./health.js";
export * from "./api-keys.js";
export * from "./workflows.js";
export * from "./functions.js";
export * from "./logs.js";
export * from "./log.js";
export * from "./fl.js";
