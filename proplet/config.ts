/**
 * The proplet's configuration: one typed object, with its defaults,
 * validated at start with one clear message per bad value.
 */
import { availableParallelism } from "node:os";
import type { Logger } from "pino";
import { DEFAULT_TOPIC_ROOT, LIMITS, isValidPropletId } from "../protocol/index.js";
import type { MqttOptions } from "../mqtt/index.js";
import { PropletConfigError } from "./errors.js";
import { teeConfigProblems, type PropletTeeConfig } from "./trust/tee.js";

export type { PropletTeeConfig } from "./trust/tee.js";

export interface PropletConfigInput {
  id: string;
  name?: string;
  /** protocolVersion: 4 (MQTT 3.1.1, default) or 5 (also carries the trace context in PUBLISH user properties; not aedes). */
  mqtt: { url: string; username?: string; password?: string; tls?: MqttOptions["tls"]; protocolVersion?: 4 | 5 };
  topicRoot?: string;
  /** Runs at the same time (default: number of CPUs). */
  maxConcurrency?: number;
  /**
   * Worker threads kept started for the next core-module runs (default 0: each run starts its
   * worker when it begins). Each serves one run and is then discarded, like a fresh one; an idle
   * one costs its isolate's memory (about 10 MB). Off by default: on a machine whose cores are
   * busy, starting the replacement competes with the run it serves (bench core measured 0.61x the
   * throughput with four proplets on two cores, and 0.85x the latency of a lone task).
   */
  spareWorkers?: number;
  /** Memory offered to workloads, in bytes (default 1 GiB); the sum of running runs' memory limits stays under it. */
  memoryBytes?: number;
  tags?: string[];
  heartbeatIntervalMs?: number;
  /** Largest artifact fetched (default 64 MiB). */
  artifactMaxBytes?: number;
  /** Connect and read timeout of HTTP artifact downloads (default 30 s). */
  httpTimeoutMs?: number;
  /** Default: a private mkdtemp directory, removed on close. */
  workDir?: string;
  logger?: Logger;
  /**
   * The TEE this proplet runs in, said explicitly (never detected): `{type: "tpm", tcti}` for a
   * TPM, `{type: "sample"}` for development only. Unset: no TEE, confidential tasks are refused.
   */
  tee?: PropletTeeConfig;
  /** Not in the contract (tuning, tests): first resend delay of an unacknowledged result (default 2000, doubling up to 60 s). */
  resultResendMs?: number;
  /** Not in the contract: bounds of the store of results waiting for their ack (default 1000 results, 256 MiB). */
  pendingResults?: { maxCount?: number; maxBytes?: number };
  /** Not in the contract: timeout of each KBS request (default 30 s). */
  kbsTimeoutMs?: number;
  /** Where wasi-http daemons listen (default 127.0.0.1; each gets a free port). */
  httpHost?: string;
  /**
   * GET /metrics (Prometheus) on a port of its own; off when unset. `host` defaults to 127.0.0.1;
   * with `token`, a scrape must send `authorization: Bearer <token>`.
   */
  metrics?: { port: number; host?: string; token?: string };
  /** Largest request body a wasi-http daemon accepts (default 1 MiB). */
  httpBodyBytes?: number;
  /** Bounds of the on-disk cache of transpiled components (default 64 entries, 512 MiB). */
  componentCache?: { maxEntries?: number; maxBytes?: number };
  /** OCI registries: plain HTTP only for `insecureRegistries`, credentials per registry host, the layer cache. */
  oci?: {
    /** `host[:port]` of registries reached over plain HTTP (every other registry is HTTPS only). */
    insecureRegistries?: string[];
    /** Credentials by registry host (`host[:port]`); other registries are pulled anonymously. */
    credentials?: Record<string, { username: string; password: string }>;
    /** Default `<workDir>/oci-cache`. */
    cacheDir?: string;
    /** Default 512 MiB. */
    cacheMaxBytes?: number;
    /** Per registry request, to the headers and between body chunks (default: httpTimeoutMs). */
    timeoutMs?: number;
  };
  /** Chunked delivery over MQTT. */
  mqttArtifacts?: {
    /** Chunks requested and not yet received, at most (default 16: 4 MiB of 256 KiB chunks). */
    window?: number;
    /** A requested chunk not received within this is requested again (default 5 s). */
    chunkTimeoutMs?: number;
    /** The whole download, at most (default 10 min). */
    timeoutMs?: number;
    /** Attempts per chunk (a corrupted or lost chunk is asked again) before the download fails (default 8). */
    maxChunkAttempts?: number;
  };
}

export interface PropletOciConfig {
  insecureRegistries: string[];
  credentials: Record<string, { username: string; password: string }>;
  cacheDir: string | undefined;
  cacheMaxBytes: number;
  timeoutMs: number;
}

export interface PropletMqttArtifactsConfig {
  window: number;
  chunkTimeoutMs: number;
  timeoutMs: number;
  maxChunkAttempts: number;
}

export interface PropletConfig {
  id: string;
  name: string;
  mqtt: PropletConfigInput["mqtt"];
  topicRoot: string;
  maxConcurrency: number;
  spareWorkers: number;
  memoryBytes: number;
  tags: string[];
  heartbeatIntervalMs: number;
  artifactMaxBytes: number;
  httpTimeoutMs: number;
  workDir: string | undefined;
  resultResendMs: number;
  resultResendMaxMs: number;
  pendingResults: { maxCount: number; maxBytes: number };
  tee: PropletTeeConfig | undefined;
  /** Timeout of each KBS request (default 30 s). */
  kbsTimeoutMs: number;
  httpHost: string;
  httpBodyBytes: number;
  metrics: { host: string; port: number; token: string | null } | null;
  componentCache: { maxEntries: number; maxBytes: number };
  oci: PropletOciConfig;
  mqttArtifacts: PropletMqttArtifactsConfig;
}

const GiB = 1024 * 1024 * 1024;

export function resolvePropletConfig(input: PropletConfigInput): PropletConfig {
  const problems: string[] = [];
  const int = (name: string, value: number | undefined, fallback: number, min: number, max: number): number => {
    if (value === undefined) return fallback;
    if (!Number.isInteger(value) || value < min || value > max) problems.push(`${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
    return value;
  };

  if (typeof input?.id !== "string" || !isValidPropletId(input.id)) {
    problems.push(`id must match ${"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"} (it is used in MQTT topics), got ${JSON.stringify(input?.id)}`);
  }
  const name = input?.name ?? input?.id;
  if (typeof name !== "string" || name.length < 1 || name.length > LIMITS.nameBytes) problems.push(`name must be 1 to ${LIMITS.nameBytes} characters`);
  const url = input?.mqtt?.url;
  if (typeof url !== "string" || !/^(mqtts?|wss?|tcp|tls):\/\/[^\s]+$/.test(url)) {
    problems.push(`mqtt.url must be an mqtt://, mqtts://, ws:// or wss:// URL, got ${JSON.stringify(url)}`);
  }
  const protocolVersion = input?.mqtt?.protocolVersion;
  if (protocolVersion !== undefined && protocolVersion !== 4 && protocolVersion !== 5) problems.push(`mqtt.protocolVersion must be 4 (MQTT 3.1.1) or 5, got ${JSON.stringify(protocolVersion)}`);
  const topicRoot = input?.topicRoot ?? DEFAULT_TOPIC_ROOT;
  if (typeof topicRoot !== "string" || topicRoot.length === 0 || /[#+]/.test(topicRoot) || topicRoot.endsWith("/")) {
    problems.push(`topicRoot must be non-empty, without MQTT wildcards or a trailing slash, got ${JSON.stringify(topicRoot)}`);
  }
  const tags = input?.tags ?? [];
  if (!Array.isArray(tags) || tags.length > LIMITS.tags || tags.some((t) => typeof t !== "string" || t.length < 1 || t.length > 64)) {
    problems.push(`tags must be at most ${LIMITS.tags} strings of 1 to 64 characters`);
  }
  problems.push(...teeConfigProblems(input?.tee));
  if (input?.workDir !== undefined && (typeof input.workDir !== "string" || input.workDir.length === 0)) problems.push("workDir must be a non-empty path");
  const httpHost = input?.httpHost ?? "127.0.0.1";
  if (typeof httpHost !== "string" || !/^[A-Za-z0-9.:-]{1,253}$/.test(httpHost)) problems.push(`httpHost must be a host name or IP address, got ${JSON.stringify(httpHost)}`);

  const config: PropletConfig = {
    id: input?.id,
    name: name as string,
    mqtt: input?.mqtt,
    topicRoot,
    maxConcurrency: int("maxConcurrency", input?.maxConcurrency, availableParallelism(), 1, 10_000),
    spareWorkers: int("spareWorkers", input?.spareWorkers, 0, 0, 64),
    memoryBytes: int("memoryBytes", input?.memoryBytes, GiB, 65536, 1024 * GiB),
    tags: [...new Set(tags)],
    heartbeatIntervalMs: int("heartbeatIntervalMs", input?.heartbeatIntervalMs, 5000, 100, 3_600_000),
    artifactMaxBytes: int("artifactMaxBytes", input?.artifactMaxBytes, LIMITS.artifactBytes, 1, 4 * GiB),
    httpTimeoutMs: int("httpTimeoutMs", input?.httpTimeoutMs, 30_000, 10, 3_600_000),
    workDir: input?.workDir,
    resultResendMs: int("resultResendMs", input?.resultResendMs, 2000, 10, 600_000),
    resultResendMaxMs: 60_000,
    pendingResults: {
      maxCount: int("pendingResults.maxCount", input?.pendingResults?.maxCount, 1000, 1, 1_000_000),
      maxBytes: int("pendingResults.maxBytes", input?.pendingResults?.maxBytes, 256 * 1024 * 1024, 1024, 64 * GiB),
    },
    tee: input?.tee,
    kbsTimeoutMs: int("kbsTimeoutMs", input?.kbsTimeoutMs, 30_000, 100, 600_000),
    httpHost,
    metrics: metricsConfig(input?.metrics, int, problems),
    httpBodyBytes: int("httpBodyBytes", input?.httpBodyBytes, 1024 * 1024, 0, 1024 * 1024 * 1024),
    componentCache: {
      maxEntries: int("componentCache.maxEntries", input?.componentCache?.maxEntries, 64, 1, 100_000),
      maxBytes: int("componentCache.maxBytes", input?.componentCache?.maxBytes, 512 * 1024 * 1024, 1024 * 1024, 1024 * GiB),
    },
    oci: ociConfig(input?.oci, input?.httpTimeoutMs ?? 30_000, int, problems),
    mqttArtifacts: {
      window: int("mqttArtifacts.window", input?.mqttArtifacts?.window, 16, 1, 64),
      chunkTimeoutMs: int("mqttArtifacts.chunkTimeoutMs", input?.mqttArtifacts?.chunkTimeoutMs, 5000, 50, 600_000),
      timeoutMs: int("mqttArtifacts.timeoutMs", input?.mqttArtifacts?.timeoutMs, 600_000, 100, 24 * 3_600_000),
      maxChunkAttempts: int("mqttArtifacts.maxChunkAttempts", input?.mqttArtifacts?.maxChunkAttempts, 8, 1, 1000),
    },
  };
  if (problems.length > 0) throw new PropletConfigError(problems);
  return config;
}

function metricsConfig(
  input: PropletConfigInput["metrics"],
  int: (name: string, value: number | undefined, fallback: number, min: number, max: number) => number,
  problems: string[],
): PropletConfig["metrics"] {
  if (input === undefined) return null;
  if (typeof input !== "object" || input === null) {
    problems.push("metrics must be an object {port, host?, token?}");
    return null;
  }
  const host = input.host ?? "127.0.0.1";
  if (typeof host !== "string" || !/^[A-Za-z0-9.:-]{1,253}$/.test(host)) problems.push(`metrics.host must be a host name or IP address, got ${JSON.stringify(host)}`);
  const token = input.token ?? null;
  if (token !== null && (typeof token !== "string" || token.length < 16 || token.length > 512 || /\s/.test(token))) {
    problems.push("metrics.token must be 16 to 512 characters without spaces (e.g. openssl rand -hex 24)");
  }
  return { host, port: int("metrics.port", input.port, 0, 0, 65535), token };
}

const REGISTRY_HOST = /^[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$/;

function ociConfig(
  input: PropletConfigInput["oci"],
  httpTimeoutMs: number,
  int: (name: string, value: number | undefined, fallback: number, min: number, max: number) => number,
  problems: string[],
): PropletOciConfig {
  const insecure = input?.insecureRegistries ?? [];
  if (!Array.isArray(insecure) || insecure.length > 64 || insecure.some((h) => typeof h !== "string" || !REGISTRY_HOST.test(h))) {
    problems.push("oci.insecureRegistries must be at most 64 registry hosts (host or host:port)");
  }
  const credentials = input?.credentials ?? {};
  const entries = typeof credentials === "object" && credentials !== null ? Object.entries(credentials) : [];
  if (entries.length > 64) problems.push("oci.credentials names more than 64 registries");
  for (const [host, c] of entries) {
    // Never echo a password in a configuration error.
    if (!REGISTRY_HOST.test(host)) problems.push(`oci.credentials: "${host.slice(0, 100)}" is not a registry host (host or host:port)`);
    else if (typeof c?.username !== "string" || typeof c?.password !== "string" || c.username.length === 0 || c.username.length > 256 || c.password.length > 4096) {
      problems.push(`oci.credentials["${host}"] needs a username (1 to 256 characters) and a password (at most 4096)`);
    }
  }
  if (input?.cacheDir !== undefined && (typeof input.cacheDir !== "string" || input.cacheDir.length === 0)) problems.push("oci.cacheDir must be a non-empty path");
  return {
    insecureRegistries: [...new Set(Array.isArray(insecure) ? insecure : [])],
    credentials: Object.fromEntries(entries),
    cacheDir: input?.cacheDir,
    cacheMaxBytes: int("oci.cacheMaxBytes", input?.cacheMaxBytes, 512 * 1024 * 1024, 1, 1024 * GiB),
    timeoutMs: int("oci.timeoutMs", input?.timeoutMs, httpTimeoutMs, 10, 3_600_000),
  };
}
