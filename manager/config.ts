/**
 * The manager's configuration: one typed object, validated at start with one clear line per bad
 * value (defaults as fixed by CONTRACT-CORE.md).
 */
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import pino from "pino";
import { DEFAULT_TOPIC_ROOT } from "../protocol/index.js";
import { ConfigError } from "./errors.js";

export interface MqttSettings {
  url: string;
  username?: string;
  password?: string;
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; rejectUnauthorized?: boolean };
}

export interface ManagerConfigInput {
  databaseUrl: string;
  mqtt: MqttSettings;
  topicRoot?: string;
  http?: { host?: string; port?: number };
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
}

export interface ManagerConfig {
  databaseUrl: string;
  mqtt: MqttSettings;
  topicRoot: string;
  http: { host: string; port: number };
  managerId: string;
  heartbeatTimeoutMs: number;
  ackTimeoutMs: number;
  maxDeliveries: number;
  reconcileGraceMs: number;
  placement: "spread" | "pack";
  priorityAgingMs: number;
  cronMisfireMs: number;
  logger: Logger;
}

export const CONFIG_DEFAULTS = {
  topicRoot: DEFAULT_TOPIC_ROOT,
  host: "127.0.0.1",
  port: 7070,
  heartbeatTimeoutMs: 15_000,
  ackTimeoutMs: 5_000,
  maxDeliveries: 5,
  reconcileGraceMs: 10_000,
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
  }
  const topicRoot = input.topicRoot ?? CONFIG_DEFAULTS.topicRoot;
  if (typeof topicRoot !== "string" || topicRoot === "" || /[#+]/.test(topicRoot) || topicRoot.endsWith("/") || topicRoot.startsWith("/") || topicRoot.length > 200) {
    bad("topicRoot", "must be a non-empty MQTT topic without wildcards or leading/trailing slash", topicRoot);
  }
  const host = input.http?.host ?? CONFIG_DEFAULTS.host;
  if (typeof host !== "string" || host === "" || host.length > 255) bad("http.host", "must be a host name or address", host);
  const port = input.http?.port ?? CONFIG_DEFAULTS.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) bad("http.port", "must be an integer 0..65535 (0 = any free port)", port);
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
  const priorityAgingMs = int("priorityAgingMs", 1, 86_400_000);
  const cronMisfireMs = int("cronMisfireMs", 100, 86_400_000);
  const placement = input.placement ?? CONFIG_DEFAULTS.placement;
  if (placement !== "spread" && placement !== "pack") bad("placement", 'must be "spread" or "pack"', placement);

  if (problems.length > 0) {
    throw new ConfigError(`invalid manager configuration:\n  - ${problems.join("\n  - ")}`, { problems });
  }
  return {
    databaseUrl: input.databaseUrl,
    mqtt: input.mqtt,
    topicRoot,
    http: { host, port },
    managerId,
    heartbeatTimeoutMs,
    ackTimeoutMs,
    maxDeliveries,
    reconcileGraceMs,
    placement,
    priorityAgingMs,
    cronMisfireMs,
    logger: input.logger ?? pino({ name: "propeller-manager" }),
  };
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
