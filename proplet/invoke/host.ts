/**
 * The proplet's side of invocations: keeps deployed functions warm (one InstancePool each) and
 * answers function.invoke with function.reply. Deploys are idempotent per generation; a newer
 * generation replaces the pool. Only core modules (wasi-p1) are served here.
 */
import type { Logger } from "pino";
import { PropellerError, type FunctionDeploy, type FunctionInvoke, type MessageBody, type FunctionReply, type FunctionStatus } from "../../protocol/index.js";
import { fetchArtifact, type ArtifactSources } from "../artifacts/index.js";
import { WASM_PAGE_BYTES, capModuleMemory, inspectModule } from "../execute/wasm-binary.js";
import { Wasm } from "../execute/wasm-api.js";
import { InstancePool } from "./pool.js";
import { messageOf } from "../../lib/errors.js";

export interface FunctionHostDeps {
  sources: ArtifactSources;
  artifactMaxBytes: number;
  log: Logger;
  sendStatus(body: MessageBody<FunctionStatus>): Promise<void>;
  sendReply(body: MessageBody<FunctionReply>): Promise<void>;
}

/** At most this many functions deployed on one proplet, and this many warm instances in all. */
export const MAX_FUNCTIONS = 32;
export const MAX_INSTANCES = 128;

interface Deployed {
  generation: number;
  instances: number;
  pool: Promise<InstancePool>;
}

export class FunctionHost {
  private readonly functions = new Map<string, Deployed>();

  constructor(private readonly deps: FunctionHostDeps) {}

  async onDeploy(m: FunctionDeploy): Promise<void> {
    const current = this.functions.get(m.functionId);
    if (current && current.generation >= m.generation) {
      // A repeat: report again once the pool is ready (the first report may have been lost).
      await this.report(m, current.pool);
      return;
    }
    const others = [...this.functions.entries()].filter(([id]) => id !== m.functionId);
    const instances = others.reduce((n, [, d]) => n + d.instances, 0) + m.instances;
    if (others.length >= MAX_FUNCTIONS || instances > MAX_INSTANCES) {
      const message = `this proplet keeps at most ${MAX_FUNCTIONS} functions and ${MAX_INSTANCES} warm instances in all`;
      await this.deps.sendStatus({ kind: "function.status", propletId: m.propletId, functionId: m.functionId, generation: m.generation, state: "failed", error: { code: "too_many_functions", message } });
      return;
    }
    const pool = this.prepare(m);
    this.functions.set(m.functionId, { generation: m.generation, instances: m.instances, pool });
    if (current) void current.pool.then((p) => p.close(), () => undefined);
    await this.report(m, pool);
  }

  async onInvoke(m: FunctionInvoke): Promise<void> {
    const started = performance.now();
    const reply = (r: Pick<FunctionReply, "outcome" | "returnValues" | "error">) =>
      this.deps.sendReply({ kind: "function.reply", propletId: m.propletId, functionId: m.functionId, invocationId: m.invocationId, ...r, durationMs: performance.now() - started });
    const deployed = this.functions.get(m.functionId);
    if (!deployed) {
      await reply({ outcome: "failed", returnValues: null, error: { code: "function_not_deployed", message: `function ${m.functionId} is not deployed on this proplet` } });
      return;
    }
    let pool: InstancePool;
    try {
      pool = await deployed.pool;
    } catch (err) {
      await reply({ outcome: "failed", returnValues: null, error: { code: "function_failed", message: messageOf(err).slice(0, 4000) } });
      return;
    }
    const result = await pool.call(m.inputs, m.deadlineMs);
    await reply(result.ok ? { outcome: "completed", returnValues: result.values, error: null } : { outcome: "failed", returnValues: null, error: { code: result.code, message: result.message } });
  }

  async close(): Promise<void> {
    const pools = [...this.functions.values()].map((d) => d.pool);
    this.functions.clear();
    await Promise.all(pools.map((p) => p.then((x) => x.close(), () => undefined)));
  }

  private async prepare(m: FunctionDeploy): Promise<InstancePool> {
    if (m.runtime !== "wasi-p1") throw new PropellerError("unsupported_runtime", `functions run on wasi-p1 here, not ${m.runtime}`);
    const bytes = await fetchArtifact(m.artifact, this.deps.sources, { maxBytes: this.deps.artifactMaxBytes, signal: AbortSignal.timeout(60_000) });
    const info = inspectModule(bytes);
    const signature = info.exports.get(m.export);
    if (!signature) throw new PropellerError("export_not_found", `the module exports no function "${m.export}"`);
    const module = await Wasm.compile(capModuleMemory(bytes, info, Math.floor(m.memoryBytes / WASM_PAGE_BYTES)));
    return InstancePool.start(module, m.export, signature, m.instances);
  }

  private async report(m: FunctionDeploy, pool: Promise<InstancePool>): Promise<void> {
    const base = { kind: "function.status" as const, propletId: m.propletId, functionId: m.functionId, generation: m.generation };
    try {
      await pool;
      await this.deps.sendStatus({ ...base, state: "ready", error: null });
    } catch (err) {
      const code = err instanceof PropellerError ? err.code : "function_failed";
      this.deps.log.warn({ functionId: m.functionId, err: messageOf(err) }, "function deploy failed");
      this.functions.delete(m.functionId);
      await this.deps.sendStatus({ ...base, state: "failed", error: { code: code.slice(0, 64), message: messageOf(err).slice(0, 4000) } });
    }
  }
}
