/**
 * Functions and synchronous invocations. A function (a module's export) is deployed to `replicas`
 * live proplets that fit it, each keeping `instances` warm instances; POST /functions/:name/invoke
 * sends function.invoke to one of them (round robin over ready placements) and waits for the
 * function.reply with the same invocationId, bounded by the caller's deadline.
 *
 * A placement is usable while its proplet is alive with the same connected_at as at deploy time (a
 * restarted proplet lost its pool); when none is, the function is deployed again (new generation)
 * on a live proplet within the same deadline. Replies reach every manager; the one holding the
 * invocation answers, the others ignore it.
 */
import { randomUUID } from "node:crypto";
import type { ManagerContext } from "../context.js";
import { ConflictError, InvalidRequestError, NotFoundError } from "../errors.js";
import type { FunctionCreate, FunctionView, InvokeReply, InvokeRequest } from "../../protocol/api/index.js";
import { feasibilityRefusal, summarizeRefusals, type Refusal } from "../scheduler/choose.js";
import * as propletStore from "../store/proplets.js";
import { checkArtifact, type ArtifactInput } from "../delivery/index.js";
import type { PropletRecord, TaskSpec } from "../tasks/model.js";
import { LIMITS, PropellerError, encodeTopicMessage, type FunctionReply, type FunctionStatus, type Topics } from "../../protocol/index.js";
import * as store from "./store.js";
import { messageOf } from "../../lib/errors.js";

/** Pending invocations per manager (each holds an HTTP request open). */
export const MAX_PENDING_INVOCATIONS = 10_000;
const DEFAULT_DEADLINE_MS = 10_000;

/** An invocation that could not be served: its HTTP status says why (503 no proplet, 504 deadline). */
export class InvocationError extends PropellerError {
  constructor(
    readonly status: 503 | 504,
    code: string,
    message: string,
  ) {
    super(code, message);
  }
}

interface Pending {
  resolve(reply: FunctionReply): void;
}

export class InvocationService {
  private readonly pending = new Map<string, Pending>();
  private readonly readyWaiters = new Map<string, Array<() => void>>();
  private rr = 0;
  /** Ready placements per function, briefly cached: a burst of invocations reads the database once. */
  private readonly cache = new Map<string, { at: number; fn: store.FunctionRecord; targets: string[] }>();
  private readonly lookups = new Map<string, Promise<{ fn: store.FunctionRecord; placements: store.PlacementRecord[] }>>();

  constructor(
    private readonly ctx: ManagerContext,
    private readonly topics: Topics,
  ) {}

  async create(input: FunctionCreate): Promise<FunctionView> {
    const artifact = checkArtifact(functionArtifact(input.artifact));
    const now = this.ctx.now();
    const spec: store.FunctionSpec = {
      export: input.export,
      runtime: "wasi-p1",
      instances: input.instances ?? 4,
      replicas: input.replicas ?? 1,
      memoryBytes: input.memoryBytes ?? LIMITS.memoryBytes,
      tags: input.requirements?.tags ?? [],
      artifact: artifact.spec,
    };
    const fn = await this.ctx.db.transaction(async (tx) => {
      if (await store.getFunctionByName(tx, input.name)) throw new ConflictError("function_exists", `a function named ${input.name} exists; delete it first or pick another name`);
      return store.insertFunction(tx, { id: randomUUID(), name: input.name, spec, artifact: artifact.bytes ?? null, now });
    });
    await this.deploy(fn, await this.livePlacements(fn));
    return this.get(input.name);
  }

  async get(name: string): Promise<FunctionView> {
    const fn = await this.mustGet(name);
    return view(fn, await store.listPlacements(this.ctx.db, fn.id));
  }

  async list(): Promise<FunctionView[]> {
    const fns = await store.listFunctions(this.ctx.db);
    return Promise.all(fns.map(async (fn) => view(fn, await store.listPlacements(this.ctx.db, fn.id))));
  }

  async delete(name: string): Promise<void> {
    const fn = await this.mustGet(name);
    await store.deleteFunction(this.ctx.db, fn.id);
    this.cache.delete(name);
  }

  async invoke(name: string, request: InvokeRequest): Promise<InvokeReply> {
    const began = performance.now();
    const deadlineMs = request.deadlineMs ?? DEFAULT_DEADLINE_MS;
    const deadline = Date.now() + deadlineMs;
    if (this.pending.size >= MAX_PENDING_INVOCATIONS) throw new InvocationError(503, "busy", `${MAX_PENDING_INVOCATIONS} invocations are in progress on this manager; retry later`);
    const { fn, propletId } = await this.target(name, deadline);
    const invocationId = randomUUID();
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new InvocationError(504, "deadline_exceeded", `function ${name}: no warm instance within the ${deadlineMs} ms deadline`);
    const reply = await new Promise<FunctionReply | null>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(invocationId);
        resolve(null);
      }, remaining + 250); // the proplet enforces the deadline itself; this covers a lost reply
      this.pending.set(invocationId, {
        resolve: (r) => {
          clearTimeout(timer);
          this.pending.delete(invocationId);
          resolve(r);
        },
      });
      const payload = encodeTopicMessage("functions/invoke", {
        kind: "function.invoke",
        propletId,
        functionId: fn.id,
        invocationId,
        inputs: request.inputs ?? [],
        deadlineMs: remaining,
      });
      this.ctx.publish(this.topics.proplet(propletId, "functions/invoke"), payload).catch((err: unknown) => {
        this.ctx.log.warn({ invocationId, err: messageOf(err) }, "function.invoke not sent");
      });
    });
    if (!reply) throw new InvocationError(504, "deadline_exceeded", `function ${name}: no reply from proplet ${propletId} within the ${deadlineMs} ms deadline`);
    if (reply.error?.code === "deadline_exceeded") throw new InvocationError(504, "deadline_exceeded", `function ${name}: ${reply.error.message}`);
    if (reply.error?.code === "function_not_deployed") this.cache.delete(name); // the proplet restarted: redeploy next time
    return {
      functionId: fn.id,
      invocationId,
      propletId,
      outcome: reply.outcome,
      returnValues: reply.returnValues,
      error: reply.error,
      durationMs: performance.now() - began,
      propletDurationMs: reply.durationMs,
    };
  }

  /** A ready placement on a live proplet, deploying (again) when there is none, all before `deadline`. */
  private async target(name: string, deadline: number): Promise<{ fn: store.FunctionRecord; propletId: string }> {
    for (;;) {
      const cached = this.cache.get(name);
      if (cached && Date.now() - cached.at < 1000 && cached.targets.length > 0) {
        return { fn: cached.fn, propletId: cached.targets[this.rr++ % cached.targets.length]! };
      }
      const { fn, placements } = await this.lookup(name);
      const ready = placements.filter((p) => p.state === "ready").map((p) => p.propletId);
      if (ready.length > 0) {
        this.cache.set(name, { at: Date.now(), fn, targets: ready });
        continue;
      }
      if (!placements.some((p) => p.state === "deploying")) {
        // Its proplets refused it (e.g. no such export): say so rather than deploy it again and again.
        const failed = (await store.listPlacements(this.ctx.db, fn.id)).find((p) => p.generation === fn.generation && p.state === "failed");
        if (failed) throw new InvocationError(503, "function_failed", `function ${name} could not be deployed on proplet ${failed.propletId}: ${failed.error ?? "unknown error"}; fix it and create it again`);
        await this.deploy(fn, placements);
      }
      if (Date.now() >= deadline) throw new InvocationError(504, "deadline_exceeded", `function ${name} has no warm instance yet (deploying)`);
      await this.waitReady(fn.id, Math.min(deadline - Date.now(), 1000));
    }
  }

  /**
   * The function and its live placements, read once for every caller that asks while a read is in
   * flight: a burst of invocations on a cold cache is one set of queries, not one per call.
   */
  private lookup(name: string): Promise<{ fn: store.FunctionRecord; placements: store.PlacementRecord[] }> {
    const inFlight = this.lookups.get(name);
    if (inFlight) return inFlight;
    const read = (async () => {
      const fn = await this.mustGet(name);
      return { fn, placements: await this.livePlacements(fn) };
    })().finally(() => this.lookups.delete(name));
    this.lookups.set(name, read);
    return read;
  }

  /** Placements of the current generation whose proplet is alive and has not restarted since. */
  private async livePlacements(fn: store.FunctionRecord): Promise<store.PlacementRecord[]> {
    const [placements, proplets] = await Promise.all([store.listPlacements(this.ctx.db, fn.id), propletStore.listProplets(this.ctx.db, { aliveOnly: true })]);
    const live = new Map(proplets.map((p) => [p.id, p]));
    return placements.filter((p) => {
      const proplet = live.get(p.propletId);
      return proplet && p.generation === fn.generation && p.state !== "failed" && proplet.connectedAt.getTime() === p.propletConnectedAt.getTime();
    });
  }

  /** Deploys to live fitting proplets until `replicas` placements are live (new generation when none is). */
  private async deploy(fn: store.FunctionRecord, live: store.PlacementRecord[]): Promise<void> {
    const needed = fn.spec.replicas - live.length;
    if (needed <= 0) return;
    const now = this.ctx.now();
    const sends: Array<{ proplet: PropletRecord; generation: number }> = [];
    const refusals: Refusal[] = [];
    await this.ctx.db.transaction(async (tx) => {
      const locked = await store.getFunction(tx, fn.id, { forUpdate: true });
      if (!locked) return;
      const generation = live.length === 0 ? locked.generation + 1 : locked.generation;
      if (generation !== locked.generation) await store.setGeneration(tx, fn.id, generation, now);
      const taken = new Set(live.map((p) => p.propletId));
      const fits: PropletRecord[] = [];
      for (const p of await propletStore.listProplets(tx, { aliveOnly: true })) {
        if (taken.has(p.id)) continue;
        const refusal = feasibilityRefusal(asTaskSpec(fn.spec), p);
        if (refusal) refusals.push(refusal);
        else fits.push(p);
      }
      for (const proplet of fits.slice(0, needed)) {
        await store.upsertPlacement(tx, { functionId: fn.id, propletId: proplet.id, generation, propletConnectedAt: proplet.connectedAt, now });
        sends.push({ proplet, generation });
      }
      fn.generation = generation;
    });
    if (sends.length === 0 && live.length === 0) {
      throw new InvocationError(503, "no_matching_proplet", `function ${fn.name}: no live proplet fits it (runtime wasi-p1${fn.spec.tags.length ? `, tags [${fn.spec.tags.join(", ")}]` : ""}${refusals.length > 0 ? `; refused by ${summarizeRefusals(refusals)}` : ""}); start one`);
    }
    const bytes = fn.spec.artifact.location === "inline" ? await store.getArtifactBytes(this.ctx.db, fn.id) : null;
    for (const { proplet, generation } of sends) {
      const payload = encodeTopicMessage("functions/deploy", {
        kind: "function.deploy",
        propletId: proplet.id,
        functionId: fn.id,
        generation,
        runtime: "wasi-p1",
        artifact: {
          digest: fn.spec.artifact.digest,
          ...(fn.spec.artifact.size !== null ? { size: fn.spec.artifact.size } : {}),
          location: bytes ? { kind: "inline", data: bytes.toString("base64") } : { kind: "http", url: fn.spec.artifact.url! },
        },
        export: fn.spec.export,
        instances: fn.spec.instances,
        memoryBytes: fn.spec.memoryBytes,
      });
      await this.ctx.publish(this.topics.proplet(proplet.id, "functions/deploy"), payload).catch((err: unknown) => {
        this.ctx.log.warn({ functionId: fn.id, propletId: proplet.id, err: messageOf(err) }, "function.deploy not sent");
      });
    }
  }

  /** Resolves on the next function.status of this function, or after `ms`; never leaves a waiter behind. */
  private waitReady(functionId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const list = this.readyWaiters.get(functionId) ?? [];
      const done = () => {
        clearTimeout(timer);
        const left = (this.readyWaiters.get(functionId) ?? []).filter((w) => w !== done);
        if (left.length > 0) this.readyWaiters.set(functionId, left);
        else this.readyWaiters.delete(functionId);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      list.push(done);
      this.readyWaiters.set(functionId, list);
    });
  }

  /** A function.reply, validated by the router: settles the invocation waiting for it. */
  onReply(msg: FunctionReply): void {
    this.pending.get(msg.invocationId)?.resolve(msg);
  }

  /** A function.status, validated by the router: records the placement's state and wakes deploys waiting on it. */
  async onStatus(msg: FunctionStatus): Promise<void> {
    try {
      await store.setPlacementState(this.ctx.db, msg.functionId, msg.propletId, msg.generation, msg.state, msg.error ? `${msg.error.code}: ${msg.error.message}` : null, this.ctx.now());
    } catch (err) {
      this.ctx.counters.inc("handlerErrors");
      this.ctx.log.error({ err: messageOf(err) }, "function.status not stored");
    }
    for (const wake of [...(this.readyWaiters.get(msg.functionId) ?? [])]) wake();
  }

  private async mustGet(name: string): Promise<store.FunctionRecord> {
    const fn = await store.getFunctionByName(this.ctx.db, name);
    if (!fn) throw new NotFoundError("function_not_found", `no function ${name}`);
    return fn;
  }
}

/** The placement filter reads a task spec: a function's needs in that shape. */
function asTaskSpec(spec: store.FunctionSpec): TaskSpec {
  return {
    runtime: spec.runtime,
    artifact: spec.artifact,
    entrypoint: { kind: "export", name: spec.export, inputs: [] },
    args: [],
    env: {},
    stdin: "",
    limits: { timeoutMs: LIMITS.timeoutMs, memoryBytes: spec.memoryBytes, outputBytes: 0 },
    target: null,
    requirements: { tags: spec.tags, tee: null },
    onPropletLoss: "fail",
  };
}

function view(fn: store.FunctionRecord, placements: store.PlacementRecord[]): FunctionView {
  return {
    id: fn.id,
    name: fn.name,
    export: fn.spec.export,
    instances: fn.spec.instances,
    replicas: fn.spec.replicas,
    generation: fn.generation,
    placements: placements.filter((p) => p.generation === fn.generation).map((p) => ({ propletId: p.propletId, state: p.state, error: p.error })),
    createdAt: fn.createdAt.toISOString(),
  };
}

/**
 * A function's artifact travels in function.deploy and is fetched by every proplet that keeps it
 * warm: inline bytes or a URL. OCI references and chunked MQTT delivery are for tasks (the chunk
 * server serves only artifacts of a proplet's active runs), so they are refused here, clearly.
 */
function functionArtifact(input: FunctionCreate["artifact"]): ArtifactInput {
  if ("delivery" in input || "oci" in input) {
    throw new InvalidRequestError("unsupported_artifact", "a function's artifact must be inline ({digest, inline}) or a URL ({digest, url}); OCI and chunked MQTT delivery are available to tasks only");
  }
  return input;
}
