/**
 * The proplet's configuration: one typed object, defaults per the contract (CONTRACT-CORE.md),
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
  mqtt: { url: string; username?: string; password?: string; tls?: MqttOptions["tls"] };
  topicRoot?: string;
  /** Runs at the same time (default: number of CPUs). */
  maxConcurrency?: number;
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
  /** Largest request body a wasi-http daemon accepts (default 1 MiB). */
  httpBodyBytes?: number;
  /** Bounds of the on-disk cache of transpiled components (default 64 entries, 512 MiB). */
  componentCache?: { maxEntries?: number; maxBytes?: number };
}

export interface PropletConfig {
  id: string;
  name: string;
  mqtt: PropletConfigInput["mqtt"];
  topicRoot: string;
  maxConcurrency: number;
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
  componentCache: { maxEntries: number; maxBytes: number };
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
    httpBodyBytes: int("httpBodyBytes", input?.httpBodyBytes, 1024 * 1024, 0, 1024 * 1024 * 1024),
    componentCache: {
      maxEntries: int("componentCache.maxEntries", input?.componentCache?.maxEntries, 64, 1, 100_000),
      maxBytes: int("componentCache.maxBytes", input?.componentCache?.maxBytes, 512 * 1024 * 1024, 1024 * 1024, 1024 * GiB),
    },
  };
  if (problems.length > 0) throw new PropletConfigError(problems);
  return config;
}
