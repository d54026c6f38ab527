/**
 * Federated learning experiments behind the REST API: create (checked, stored with model version
 * 0), start (participants fixed), get (with rounds), list, model versions. The rounds themselves
 * are run by advance.ts.
 */
import { randomUUID } from "node:crypto";
import type { ManagerContext } from "../context.js";
import { ConflictError, InvalidRequestError, NotFoundError } from "../errors.js";
import { checkModel, encodeModel, modelDigest } from "../../protocol/index.js";
import type { FlExperiment, FlExperimentCreate, FlModelVersion, FlRound } from "../../protocol/api/index.js";
import { checkArtifact } from "../delivery/index.js";
import * as propletStore from "../store/proplets.js";
import type { TaskService } from "../tasks/service.js";
import { secaggOf, specOf, type SecAggSpec } from "./spec.js";
import { fractionBitsFor } from "../../protocol/secagg/index.js";
import { messageOf } from "../../lib/errors.js";
import * as store from "./store.js";

export class FlService {
  constructor(
    private readonly ctx: ManagerContext,
    private readonly tasks: TaskService,
    /** Asks for an advancement pass soon (coalesced). */
    private readonly requestAdvance: () => void,
  ) {}

  async create(input: FlExperimentCreate): Promise<FlExperiment> {
    if (input.secagg && input.aggregation !== "secagg") throw new InvalidRequestError("invalid_experiment", "secagg parameters are given, but aggregation is not \"secagg\"");
    if (input.attested && !input.confidential) {
      throw new InvalidRequestError("invalid_experiment", "an attested experiment needs a confidential workload (confidential: kbsUrl, resource, plaintextDigest, tee): only runs whose key the KBS released to an attested TEE carry attested receipts");
    }
    const model = { shape: input.model.shape, weights: input.model.weights };
    const checked = checkModel(model);
    if (!checked.ok) throw new InvalidRequestError("invalid_model", `model: ${checked.reason}`);
    const digest = modelDigest(model);
    if (input.model.digest !== undefined && input.model.digest !== digest) {
      throw new InvalidRequestError("digest_mismatch", `model.digest is ${input.model.digest}, but the canonical encoding of the weights has ${digest}`);
    }
    const invited = "proplets" in input.participants ? input.participants.proplets.length : input.participants.min;
    if (input.k > invited) throw new InvalidRequestError("invalid_experiment", `k is ${input.k}, but at most ${invited} participants take part in a round`);
    if (input.aggregation === "secagg") checkSecAgg(secaggOf(input), invited, input.k);
    // Inline bytes are checked against their digest now; other sources when the first round opens.
    if ("inline" in input.workload && input.workload.inline !== undefined && !("delivery" in input.workload)) checkArtifact({ digest: input.workload.digest, inline: input.workload.inline });
    const workloadDigest = input.confidential?.plaintextDigest ?? ("digest" in input.workload && input.workload.digest ? input.workload.digest : "unresolved");
    const id = randomUUID();
    const now = this.ctx.now();
    await this.ctx.db.transaction(async (tx) => {
      await store.insertExperiment(tx, { id, name: input.name, spec: specOf(input, workloadDigest), now });
      await store.insertModel(tx, { experimentId: id, version: 0, round: null, digest, encoded: encodeModel(model), samples: 0, updates: [], createdAt: now });
    });
    return input.start ? this.start(id) : this.get(id, false);
  }

  /** Fixes the participants (explicit, or the live proplets matching the selector) and starts round 1. */
  async start(id: string): Promise<FlExperiment> {
    const now = this.ctx.now();
    await this.ctx.db.transaction(async (tx) => {
      const exp = await store.getExperiment(tx, id, { forUpdate: true });
      if (!exp) throw notFound(id);
      if (exp.state !== "created") throw new ConflictError("illegal_transition", `experiment ${id} is ${exp.state}; only a created experiment can start`);
      const spec = exp.spec;
      const proplets = await propletStore.listProplets(tx);
      const byId = new Map(proplets.map((p) => [p.id, p]));
      let chosen: string[];
      if (spec.participants.kind === "explicit") {
        chosen = spec.participants.proplets;
        if (spec.attested) {
          const refused = chosen.filter((p) => byId.get(p)?.capabilities.tee?.type !== spec.tee);
          if (refused.length > 0) {
            throw new ConflictError("participant_not_attested", `experiment ${id} requires attested participants (TEE ${String(spec.tee)}); refused: ${refused.map((p) => `${p} (${byId.has(p) ? `TEE ${byId.get(p)!.capabilities.tee?.type ?? "none"}` : "unknown proplet"})`).join(", ")}`);
          }
        }
      } else {
        const sel = spec.participants;
        const wantTee = spec.attested ? spec.tee : sel.tee;
        chosen = proplets
          .filter((p) => p.alive && sel.tags.every((t) => p.capabilities.tags.includes(t)) && (wantTee === null || p.capabilities.tee?.type === wantTee))
          .map((p) => p.id)
          .sort();
        if (chosen.length < sel.min) {
          throw new ConflictError("not_enough_participants", `experiment ${id} needs at least ${sel.min} live proplets matching its selector${spec.attested ? ` with TEE ${String(spec.tee)}` : ""}; ${chosen.length} match`);
        }
      }
      for (const p of chosen) await store.insertParticipant(tx, id, p);
      await store.setExperimentState(tx, id, { state: "running", now, startedAt: now });
    });
    this.requestAdvance();
    return this.get(id, false);
  }

  /** Stops the experiment: the open round fails ("stopped by request"), its pending runs are stopped. */
  async stop(id: string): Promise<FlExperiment> {
    const now = this.ctx.now();
    const reason = "stopped by request";
    const running = await this.ctx.db.transaction(async (tx) => {
      const exp = await store.getExperiment(tx, id, { forUpdate: true });
      if (!exp) throw notFound(id);
      if (exp.state !== "created" && exp.state !== "running") throw new ConflictError("illegal_transition", `experiment ${id} is already ${exp.state}`);
      const taskIds: string[] = [];
      const round = exp.currentRound > 0 ? await store.getRound(tx, id, exp.currentRound) : null;
      if (round && (round.state === "opening" || round.state === "training" || round.state === "aggregating")) {
        for (const u of await store.listUpdates(tx, id, round.round)) {
          if (u.state !== "pending") continue;
          await store.setUpdate(tx, { experimentId: id, round: round.round, propletId: u.propletId }, { state: "missing", reason: `experiment ${reason}`, finishedAt: now });
          if (u.taskId) taskIds.push(u.taskId);
        }
        await store.setRound(tx, id, round.round, { state: "failed", reason: `experiment ${reason}`, closedAt: now, finishedAt: now });
      }
      await store.setExperimentState(tx, id, { state: "stopped", reason, now, finishedAt: now });
      return taskIds;
    });
    // After the commit (one connection on PGlite): each task stop is its own transaction.
    for (const taskId of running) await this.tasks.stop(taskId).catch(() => undefined);
    return this.get(id, false);
  }

  async get(id: string, withRounds = true): Promise<FlExperiment> {
    const exp = await store.getExperiment(this.ctx.db, id);
    if (!exp) throw notFound(id);
    const latest = (await store.latestModels(this.ctx.db, [id])).get(id)!;
    const view = experimentView(exp, await store.listParticipants(this.ctx.db, id), latest);
    if (!withRounds) return view;
    const [rounds, updates, digests] = await Promise.all([store.listRounds(this.ctx.db, id), store.listUpdates(this.ctx.db, id), store.modelDigests(this.ctx.db, id)]);
    return { ...view, roundList: rounds.map((r) => roundView(r, updates.filter((u) => u.round === r.round), digests)) };
  }

  async list(q: { state?: store.ExperimentState; limit?: number; cursor?: string }): Promise<{ items: FlExperiment[]; nextCursor: string | null }> {
    const limit = q.limit ?? 50;
    const afterSeq = q.cursor !== undefined ? decodeCursor(q.cursor) : undefined;
    const rows = await store.listExperiments(this.ctx.db, { limit: limit + 1, ...(q.state ? { state: q.state } : {}), ...(afterSeq !== undefined ? { afterSeq } : {}) });
    const page = rows.slice(0, limit);
    const latest = await store.latestModels(this.ctx.db, page.map((e) => e.id));
    const items: FlExperiment[] = [];
    for (const e of page) items.push(experimentView(e, await store.listParticipants(this.ctx.db, e.id), latest.get(e.id)!));
    return { items, nextCursor: rows.length > limit ? Buffer.from(`f:${page[page.length - 1]!.seq}`).toString("base64url") : null };
  }

  async model(id: string, version: number): Promise<FlModelVersion> {
    const exp = await store.getExperiment(this.ctx.db, id);
    if (!exp) throw notFound(id);
    const m = await store.getModel(this.ctx.db, id, version);
    if (!m) throw new NotFoundError("model_not_found", `experiment ${id} has no model version ${version}`);
    const decoded = JSON.parse(m.encoded) as { shape: number[]; weights: number[] };
    return { experimentId: id, version: m.version, round: m.round, digest: m.digest, shape: decoded.shape, weights: decoded.weights, samples: m.samples, updates: m.updates, createdAt: m.createdAt.toISOString() };
  }
}

function notFound(id: string): NotFoundError {
  return new NotFoundError("experiment_not_found", `no federated experiment ${id}`);
}

function decodeCursor(cursor: string): number {
  const match = /^f:(\d{1,15})$/.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  if (!match) throw new InvalidRequestError("invalid_cursor", "cursor is not one this server issued");
  return Number(match[1]);
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);
const between = (a: Date | null, b: Date | null) => (a && b ? Math.max(0, b.getTime() - a.getTime()) : null);

function experimentView(e: store.ExperimentRecord, participants: store.ParticipantRecord[], latest: { version: number; digest: string }): FlExperiment {
  const s = e.spec;
  return {
    id: e.id,
    name: e.name,
    state: e.state,
    reason: e.reason,
    aggregation: s.aggregation,
    attested: s.attested,
    tee: s.tee,
    rounds: s.rounds,
    k: s.k,
    roundDeadlineMs: s.roundDeadlineMs,
    stragglers: s.stragglers,
    dropouts: s.dropouts,
    workloadDigest: s.workloadDigest,
    participants: participants.map((p) => ({ propletId: p.propletId, state: p.state, reason: p.reason })),
    currentRound: e.currentRound,
    latestModel: latest,
    createdAt: e.createdAt.toISOString(),
    startedAt: iso(e.startedAt),
    finishedAt: iso(e.finishedAt),
  };
}

function roundView(r: store.RoundRecord, updates: store.UpdateRecord[], digests: Map<number, string>): FlRound {
  return {
    round: r.round,
    state: r.state,
    reason: r.reason,
    baseModel: { version: r.baseVersion, digest: digests.get(r.baseVersion) ?? "" },
    model: r.modelVersion !== null ? { version: r.modelVersion, digest: digests.get(r.modelVersion) ?? "" } : null,
    accepted: updates.filter((u) => u.state === "accepted").length,
    startedAt: r.startedAt.toISOString(),
    deadlineAt: r.deadlineAt.toISOString(),
    finishedAt: iso(r.finishedAt),
    timings: { openMs: between(r.startedAt, r.openedAt), trainMs: between(r.openedAt, r.closedAt), aggregateMs: between(r.closedAt, r.finishedAt) },
    updates: updates.map((u) => ({
      propletId: u.propletId,
      taskId: u.taskId,
      runId: u.runId,
      state: u.state,
      reason: u.reason,
      digest: u.digest,
      samples: u.samples,
      attested: u.attested,
      finishedAt: iso(u.finishedAt),
    })),
    ...(r.secagg ? { secagg: r.secagg } : {}),
  };
}

/**
 * Secure aggregation needs two participants at least, a threshold no larger than a round's
 * participants and no smaller than k (the sum must hold k updates), and room in 32-bit lanes for
 * the largest sample count and clip (protocol/secagg/params.ts).
 */
function checkSecAgg(p: SecAggSpec, invited: number, k: number): void {
  const bad = (why: string) => new InvalidRequestError("invalid_experiment", `secagg: ${why}`);
  if (invited < 2) throw bad("secure aggregation needs at least 2 participants a round");
  if (p.threshold > invited) throw bad(`threshold ${p.threshold} exceeds the ${invited} participants of a round`);
  if (p.threshold < k) throw bad(`threshold ${p.threshold} is below k (${k}): a sum of fewer than k updates would be aggregated`);
  try {
    fractionBitsFor(invited, p.maxSamples, p.clip);
  } catch (err) {
    throw bad(messageOf(err));
  }
}
