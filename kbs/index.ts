export { startKbs, buildKbsApp, KBS_MIGRATIONS_DIR, type RunningKbs, type KbsServerOptions } from "./server.js";
export { resolveKbsConfig, kbsConfigFromEnv, KbsConfigSchema, KBS_DEFAULTS, ADMIN_ROLES, type KbsConfig, type KbsConfigInput, type AdminRole } from "./config.js";
export { KbsError, KbsConfigError, KBS_ERROR_TYPE_PREFIX, type KbsErrorVariant } from "./errors.js";
export { ResourcePolicySchema, parseResourcePolicy, evaluateResourcePolicy, type ResourcePolicy } from "./policy/resource-policy.js";
export * from "./admin-client.js";
