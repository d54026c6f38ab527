/**
 * The proplet: a worker that takes Wasm tasks from the manager over MQTT and runs them.
 * `startProplet` is the programmatic API (config.ts documents every setting).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../lib/logger.js";
import { PropletAgent, type PropletCounters } from "./agent/agent.js";
import { resolvePropletConfig, type PropletConfigInput } from "./config.js";
import { ComponentRuntime, TranspileCache, WasiHttpRuntime, WasiP1Runtime, type Runtime } from "./execute/index.js";
import { AttestationAgent, generateAttestedKeys } from "../attestation/agent/index.js";
import { generateIdentityKey } from "./trust/identity.js";
import { createAttester } from "./trust/tee.js";

export type { PropletConfigInput, PropletConfig, PropletTeeConfig } from "./config.js";
export type { PropletCounters } from "./agent/agent.js";

export interface RunningProplet {
  id: string;
  /** Graceful: running work is abandoned, an offline status is published, then DISCONNECT. */
  close(): Promise<void>;
  /** As a crash: no DISCONNECT (the broker publishes the last will), running work abandoned, no result. */
  kill(): Promise<void>;
  /** Beyond the contract: counters of dropped, repeated and refused messages (for tests and metrics). */
  counters(): Readonly<PropletCounters>;
  /** Beyond the contract: whether the broker connection is up now (health checks). */
  connected(): boolean;
  /** Where GET /metrics is served (when `metrics` is configured). */
  readonly metricsUrl: string | undefined;
}

/** Beyond the configuration: callbacks for tests (fault injection between secure-aggregation steps). */
export interface PropletHooks {
  /** Awaited before each secure-aggregation reply is sent. */
  beforeSecAggReply?: (kind: string, session: string) => Promise<void> | void;
  /** Called after each secure-aggregation reply is sent. */
  afterSecAggReply?: (kind: string, session: string) => void;
  /** Sees each update the proplet holds for secure aggregation (the test's view of the plaintext). */
  onHeld?: (runId: string, update: Uint8Array) => void;
}

export async function startProplet(input: PropletConfigInput, hooks: PropletHooks = {}): Promise<RunningProplet> {
  const config = resolvePropletConfig(input);
  const log = input.logger ?? createLogger("proplet");
  const ownWorkDir = config.workDir === undefined;
  // Keys live in this process's memory only: a restart means new keys (and a new attestation).
  const identity = await generateIdentityKey();
  const attestation = config.tee
    ? new AttestationAgent(createAttester(config.tee, log), await generateAttestedKeys(), { propletId: config.id, logger: log, timeoutMs: config.kbsTimeoutMs })
    : null;
  // Granted directories (runs/, volumes/) and the transpiled-component cache (components/) live here.
  const workDir = config.workDir ?? (await mkdtemp(join(tmpdir(), `propeller-proplet-${config.id}-`)));
  const cache = new TranspileCache({ dir: join(workDir, "components"), ...config.componentCache, logger: log });
  const componentOptions = { workDir, cache, logger: log, httpHost: config.httpHost, httpBodyBytes: config.httpBodyBytes };
  const runtimes: Runtime[] = [
    new WasiP1Runtime({ logger: log, workDir, spareWorkers: config.spareWorkers }),
    new ComponentRuntime({ kind: "component", ...componentOptions }),
    new WasiHttpRuntime(componentOptions),
  ];
  const agent = new PropletAgent({ ...config, workDir }, runtimes, log.child({ propletId: config.id }), { identity, attestation }, hooks);
  agent.metrics.addCache("component", () => cache.stats());
  try {
    await agent.start();
  } catch (err) {
    await agent.kill().catch(() => undefined);
    await Promise.all(runtimes.map((r) => r.close?.().catch(() => undefined)));
    if (ownWorkDir) await rm(workDir, { recursive: true, force: true });
    throw err;
  }
  let ended = false;
  const cleanup = async () => {
    await Promise.all(runtimes.map((r) => r.close?.().catch(() => undefined)));
    if (ownWorkDir) await rm(workDir, { recursive: true, force: true });
  };
  return {
    id: config.id,
    async close() {
      if (ended) return;
      ended = true;
      await agent.close();
      await cleanup();
    },
    async kill() {
      if (ended) return;
      ended = true;
      await agent.kill();
      await cleanup();
    },
    counters: () => ({ ...agent.counters }),
    connected: () => !ended && agent.connected,
    get metricsUrl() {
      return agent.metricsUrl;
    },
  };
}
