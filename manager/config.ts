/**
 * The manager's configuration: one typed object, validated at start with one clear line per bad
 * value (defaults in CONFIG_DEFAULTS).
 */
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { createLogger } from "../lib/logger.js";
import { DEFAULT_TOPIC_ROOT } from "../protocol/index.js";
import { ConfigError } from "./errors.js";
import { parseApiKey } from "./auth/keys.js";
import { isScope, type Scope } from "./auth/scopes.js";
import type { JwtSettings } from "./auth/jwt.js";
import type { FailureLimitSettings } from "./auth/failures.js";
import { resolveDeliveryConfig, type DeliveryConfig, type DeliveryConfigInput } from "./delivery/config.js";
import { resolveLogConfig, type LogConfig, type LogConfigInput } from "./tlog/config.js";
import { resolveUiConfig, type UiConfig, type UiConfigInput } from "./ui/config.js";

export interface MqttSettings {
  url: string;
  username?: string;
  password?: string;
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; rejectUnauthorized?: boolean };
  /** 4 (MQTT 3.1.1, default) or 5 (also carries the trace context in PUBLISH user properties; not aedes). */
  protocolVersion?: 4 | 5;
}

/** HTTPS: set = the REST API speaks TLS only. */
export interface HttpTlsSettings {
  cert: string | Buffer;
  key: string | Buffer;
  ca?: string | Buffer;
}

export interface AuthSettingsInput {
  /** API keys ensured at start (only a hash is stored), e.g. the operator's bootstrap admin key. */
  bootstrapKeys?: Array<{ name: string; key: string; scopes: Scope[] }>;
  /** JWTs from one issuer (RS256/ES256/EdDSA); scopes from the space-separated `scope` claim. */
  jwt?: JwtSettings;
  /** Failed authentications per client address before 429 (default 20 per minute). */
  failureLimit?: Partial<FailureLimitSettings>;
}

export interface AuthSettings {
  bootstrapKeys: Array<{ name: string; key: string; scopes: Scope[] }>;
  jwt: JwtSettings | null;
  failureLimit: FailureLimitSettings;
}

export interface ManagerConfigInput {
  databaseUrl: string;
  mqtt: MqttSettings;
  topicRoot?: string;
  http?: { host?: string; port?: number; tls?: HttpTlsSettings };
  /** There is no "auth off": every route but GET /health needs a bearer credential. */
  auth?: AuthSettingsInput;
  managerId?: string;
  heartbeatTimeoutMs?: number;
  ackTimeoutMs?: number;
  maxDeliveries?: number;
  reconcileGraceMs?: number;
  /** Placement among fitting proplets: spread (least loaded) or pack (fill one before the next). */
  placement?: "spread" | "pack";
  /** A queued run gains one priority point per this many ms waited (anti-starvation). */
  priorityAgingMs?: number;
  /** A cron tick later than this when handled counts as missed (its task's `missed` policy applies). */
  cronMisfireMs?: number;
  logger?: Logger;
  /** Artifact delivery: registries the manager reads to pin OCI references (manager/delivery/). */
  delivery?: DeliveryConfigInput;
  /**
   * The key (32 bytes, or their base64) that seals task secret values in the database. Keep it out
   * of the database (a file: PROPELLER_SECRETS_KEY_FILE). Absent: a key that lives only in this
   * process, so tasks with secrets cannot start after a restart (said at start).
   */
  secretsKey?: Buffer | string;
  /** The transparency log of receipts (manager/tlog/, docs/transparency.md). */
  log?: LogConfigInput;
  /** The operator dashboard at /ui (manager/ui/, docs/dashboard.md). */
  ui?: UiConfigInput;
}

export interface ManagerConfig {
  databaseUrl: string;
  mqtt: MqttSettings;
  topicRoot: string;
  http: { host: string; port: number; tls: HttpTlsSettings | null };
  auth: AuthSettings;
  managerId: string;
  heartbeatTimeoutMs: number;
  ackTimeoutMs: number;
  maxDeliveries: number;
  reconcileGraceMs: number;
  placement: "spread" | "pack";
  priorityAgingMs: number;
  cronMisfireMs: number;
  logger: Logger;
  delivery: DeliveryConfig;
  /** 32 bytes; null: none configured (a per-process key is made at start). */
  secretsKey: Buffer | null;
  log: LogConfig;
  ui: UiConfig;
}

export const CONFIG_DEFAULTS = {
  topicRoot: DEFAULT_TOPIC_ROOT,
  host: "127.0.0.1",
  port: 7070,
  heartbeatTimeoutMs: 15_000,
  ackTimeoutMs: 5_000,
  maxDeliveries: 5,
  reconcileGraceMs: 10_000,
  authFailures: 20,
  authFailureWindowMs: 60_000,
  placement: "spread",
  priorityAgingMs: 6_000,
  cronMisfireMs: 10_000,
} as const;

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Validates `input` and fills in defaults; throws ConfigError naming every bad value at once. */
export function resolveConfig(input: ManagerConfigInput): ManagerConfig {
  const problems: string[] = [];
  const bad = (path: string, rule: string, value: unknown) =>
    problems.push(`${path}: ${rule} (got ${describe(value)})`);

  if (typeof input !== "object" || input === null) throw new ConfigError("manager configuration must be an object");

  if (typeof input.databaseUrl !== "string" || !/^(postgres(ql)?:\/\/.+|pglite:\/\/.+)$/.test(input.databaseUrl)) {
    bad("databaseUrl", "must be postgres://…, pglite://memory or pglite://<dir>", redact(input.databaseUrl));
  }
  const mqtt = input.mqtt;
  if (typeof mqtt !== "object" || mqtt === null) {
    bad("mqtt", "must be an object with a url", mqtt);
  } else {
    if (typeof mqtt.url !== "string" || !/^(mqtts?|wss?):\/\/[^\s]+$/.test(mqtt.url)) {
      bad("mqtt.url", "must be mqtt://, mqtts://, ws:// or wss:// followed by a host", redact(mqtt.url));
    }
    if (mqtt.username !== undefined && typeof mqtt.username !== "string") bad("mqtt.username", "must be a string", typeof mqtt.username);
    // Never echo a password, only its type.
    if (mqtt.password !== undefined && typeof mqtt.password !== "string") bad("mqtt.password", "must be a string", typeof mqtt.password);
    if (mqtt.protocolVersion !== undefined && mqtt.protocolVersion !== 4 && mqtt.protocolVersion !== 5) bad("mqtt.protocolVersion", "must be 4 (MQTT 3.1.1) or 5", mqtt.protocolVersion);
  }
  const topicRoot = input.topicRoot ?? CONFIG_DEFAULTS.topicRoot;
  if (typeof topicRoot !== "string" || topicRoot === "" || /[#+]/.test(topicRoot) || topicRoot.endsWith("/") || topicRoot.startsWith("/") || topicRoot.length > 200) {
    bad("topicRoot", "must be a non-empty MQTT topic without wildcards or leading/trailing slash", topicRoot);
  }
  const host = input.http?.host ?? CONFIG_DEFAULTS.host;
  if (typeof host !== "string" || host === "" || host.length > 255) bad("http.host", "must be a host name or address", host);
  const port = input.http?.port ?? CONFIG_DEFAULTS.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) bad("http.port", "must be an integer 0..65535 (0 = any free port)", port);
  const tls = input.http?.tls ?? null;
  if (tls !== null) {
    const pem = (v: unknown) => (typeof v === "string" || Buffer.isBuffer(v)) && v.length > 0;
    if (typeof tls !== "object") bad("http.tls", "must be { cert, key, ca? } (PEM)", typeof tls);
    else {
      if (!pem(tls.cert)) bad("http.tls.cert", "must be a PEM certificate (string or Buffer)", typeof tls.cert);
      // Never echo a private key, only its type.
      if (!pem(tls.key)) bad("http.tls.key", "must be a PEM private key (string or Buffer)", typeof tls.key);
      if (tls.ca !== undefined && !pem(tls.ca)) bad("http.tls.ca", "must be PEM certificates (string or Buffer)", typeof tls.ca);
    }
  }
  const auth = resolveAuth(input.auth, bad);
  const managerId = input.managerId ?? `manager-${sanitize(hostname())}-${randomBytes(4).toString("hex")}`;
  if (typeof managerId !== "string" || !ID_RE.test(managerId)) bad("managerId", "must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}", managerId);

  const int = (name: keyof typeof CONFIG_DEFAULTS & keyof ManagerConfigInput, min: number, max: number): number => {
    const value = input[name] ?? CONFIG_DEFAULTS[name];
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      bad(name, `must be an integer ${min}..${max}`, value);
    }
    return value as number;
  };
  const heartbeatTimeoutMs = int("heartbeatTimeoutMs", 100, 86_400_000);
  const ackTimeoutMs = int("ackTimeoutMs", 50, 3_600_000);
  const maxDeliveries = int("maxDeliveries", 1, 1000);
  const reconcileGraceMs = int("reconcileGraceMs", 0, 3_600_000);
  const delivery = resolveDeliveryConfig(input.delivery, problems);
  let secretsKey: Buffer | null = null;
  if (input.secretsKey !== undefined) {
    const raw = input.secretsKey;
    const bytes = Buffer.isBuffer(raw) ? raw : typeof raw === "string" && /^[A-Za-z0-9+/]{43}=$/.test(raw.trim()) ? Buffer.from(raw.trim(), "base64") : null;
    // Never echo the key, only its type and size.
    if (!bytes || bytes.length !== 32) problems.push(`secretsKey: must be 32 bytes, or their base64 (\`openssl rand -base64 32\`) (got ${Buffer.isBuffer(raw) ? `${raw.length} bytes` : typeof raw})`);
    else secretsKey = Buffer.from(bytes);
  }
  const log = resolveLogConfig(input.log, problems);
  const ui = resolveUiConfig(input.ui, problems);
  const priorityAgingMs = int("priorityAgingMs", 1, 86_400_000);
  const cronMisfireMs = int("cronMisfireMs", 100, 86_400_000);
  const placement = input.placement ?? CONFIG_DEFAULTS.placement;
  if (placement !== "spread" && placement !== "pack") bad("placement", 'must be "spread" or "pack"', placement);

  if (problems.length > 0) {
    throw ConfigError.of("invalid manager configuration", problems, { layout: "list" });
  }
  return {
    databaseUrl: input.databaseUrl,
    mqtt: input.mqtt,
    topicRoot,
    http: { host, port, tls },
    auth,
    managerId,
    heartbeatTimeoutMs,
    ackTimeoutMs,
    maxDeliveries,
    reconcileGraceMs,
    placement,
    priorityAgingMs,
    cronMisfireMs,
    logger: input.logger ?? createLogger("propeller-manager"),
    delivery,
    secretsKey,
    log,
    ui,
  };
}

function resolveAuth(input: AuthSettingsInput | undefined, bad: (path: string, rule: string, value: unknown) => void): AuthSettings {
  const auth = input ?? {};
  const bootstrapKeys = auth.bootstrapKeys ?? [];
  if (!Array.isArray(bootstrapKeys) || bootstrapKeys.length > 100) bad("auth.bootstrapKeys", "must be an array of at most 100 { name, key, scopes }", typeof bootstrapKeys);
  else {
    bootstrapKeys.forEach((k, i) => {
      const at = `auth.bootstrapKeys[${i}]`;
      if (typeof k?.name !== "string" || k.name === "" || k.name.length > 100) bad(`${at}.name`, "must be a name of 1..100 characters", k?.name);
      // Never echo a key, only whether it has the right shape.
      if (typeof k?.key !== "string" || !parseApiKey(k.key)) bad(`${at}.key`, "must be an API key prop_<id>_<secret> (`propeller apikey generate`)", "a value of the wrong shape");
      if (!Array.isArray(k?.scopes) || k.scopes.length === 0 || !k.scopes.every(isScope)) bad(`${at}.scopes`, "must be a non-empty list of read, submit, admin", k?.scopes);
    });
  }
  let jwt: JwtSettings | null = null;
  if (auth.jwt !== undefined) {
    const j = auth.jwt;
    if (typeof j?.issuer !== "string" || j.issuer === "") bad("auth.jwt.issuer", "must be the issuer (the tokens' iss)", j?.issuer);
    if (typeof j?.audience !== "string" || j.audience === "") bad("auth.jwt.audience", "must be this manager's audience (the tokens' aud)", j?.audience);
    if ((j?.jwksUrl === undefined) === (j?.jwks === undefined)) bad("auth.jwt", "needs exactly one of jwksUrl or jwks", "both or neither");
    else if (j.jwksUrl !== undefined && !isJwksUrl(j.jwksUrl)) bad("auth.jwt.jwksUrl", "must be an https:// URL (http:// only on loopback)", j.jwksUrl);
    else if (j.jwks !== undefined && !Array.isArray(j.jwks?.keys)) bad("auth.jwt.jwks", "must be a JWKS { keys: [...] }", typeof j.jwks);
    jwt = j;
  }
  const max = auth.failureLimit?.max ?? CONFIG_DEFAULTS.authFailures;
  const windowMs = auth.failureLimit?.windowMs ?? CONFIG_DEFAULTS.authFailureWindowMs;
  if (!Number.isInteger(max) || max < 1 || max > 1_000_000) bad("auth.failureLimit.max", "must be an integer 1..1000000", max);
  if (!Number.isInteger(windowMs) || windowMs < 1000 || windowMs > 86_400_000) bad("auth.failureLimit.windowMs", "must be an integer 1000..86400000", windowMs);
  return { bootstrapKeys, jwt, failureLimit: { max, windowMs } };
}

function isJwksUrl(value: unknown): boolean {
  if (typeof value !== "string") return false;
  try {
    const url = new URL(value);
    if (url.protocol === "https:") return true;
    return url.protocol === "http:" && ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
  } catch {
    return false;
  }
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = typeof value === "string" ? JSON.stringify(value) : String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** URLs may carry credentials: never put them in an error message. */
function redact(value: unknown): unknown {
  return typeof value === "string" ? value.replace(/(\/\/[^:/@]+:)[^@]*@/, "$1***@") : value;
}

function sanitize(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 32) || "host";
}
