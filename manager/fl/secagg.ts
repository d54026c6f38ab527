/**
 * Secure aggregation of federated rounds (docs/fl.md "Secure aggregation"). When a round with
 * aggregation "secagg" closes with k held updates, it is "aggregating": one manager claims it (a
 * conditional UPDATE of fl_rounds.secagg_session) and runs the SecAgg session with the proplets
 * that hold the updates (secagg-session.ts). The sum it learns, divided by the total weight, is
 * the next model version, written under the experiment's lock as a plain round's FedAvg is.
 * Sessions live in this manager's memory: a session whose manager stopped is not resumed (its
 * participants masked their updates once and forgot them) and the advance pass fails the round.
 */
import { randomBytes } from "node:crypto";
import type { ManagerContext } from "../context.js";
import { LIMITS, encodeModel, encodeTopicMessage, modelDigest, shapeSize, type FlModel, type SecAggReply } from "../../protocol/index.js";
import { fractionBitsFor } from "../../protocol/secagg/index.js";
import { messageOf } from "../../lib/errors.js";
import { SecAggSession, type SessionOutcome } from "./secagg-session.js";
import { failRound } from "./rounds.js";
import * as store from "./store.js";

/** Slack beyond the four steps' timeouts before an unfinished session counts as abandoned. */
const ABANDON_SLACK_MS = 10_000;

interface Running {
  experimentId: string;
  round: number;
  session: SecAggSession;
}

export class SecAggRounds {
  private readonly sessions = new Map<string, Running>();
  private closing = false;

  constructor(
    private readonly ctx: ManagerContext,
    /** Asks for an advancement pass (the next round opens after a concluded session). */
    private readonly requestAdvance: () => void,
  ) {}

  /** Whether this manager runs the session of this round now. */
  isRunning(experimentId: string, round: number): boolean {
    for (const r of this.sessions.values()) if (r.experimentId === experimentId && r.round === round) return true;
    return false;
  }

  /** A claimed session that no manager will finish: past every step's timeout and the slack. */
  static abandoned(round: store.RoundRecord, stepTimeoutMs: number, now: Date): boolean {
    const since = round.closedAt ?? round.startedAt;
    return now.getTime() > since.getTime() + 4 * stepTimeoutMs + ABANDON_SLACK_MS;
  }

  /** Claims and starts the session of an aggregating round (no-op if another manager has it). */
  async begin(experimentId: string, roundNo: number): Promise<void> {
    if (this.closing || this.isRunning(experimentId, roundNo)) return;
    const db = this.ctx.db;
    const exp = await store.getExperiment(db, experimentId);
    const round = await store.getRound(db, experimentId, roundNo);
    if (!exp || exp.state !== "running" || !round || round.state !== "aggregating" || round.secaggSession !== null) return;
    const base = await store.getModel(db, experimentId, round.baseVersion);
    const held = (await store.listUpdates(db, experimentId, roundNo)).filter((u) => u.state === "accepted" && u.runId !== null);
    const spec = exp.spec.secagg!;
    const sessionId = `${experimentId}/r${roundNo}/${randomBytes(9).toString("base64url")}`;
    const participants = held.map((u) => u.propletId).sort();
    let fractionBits = 0;
    let problem: string | null = null;
    if (!base) problem = `its base model version ${round.baseVersion} is missing`;
    else if (held.length < spec.threshold) problem = `only ${held.length} participants hold an update; secure aggregation needs ${spec.threshold}`;
    else {
      try {
        fractionBits = fractionBitsFor(held.length, spec.maxSamples, spec.clip);
      } catch (err) {
        problem = messageOf(err);
      }
    }
    const record: store.SecAggRecord = { session: sessionId, threshold: spec.threshold, clip: spec.clip, maxWeight: spec.maxSamples, fractionBits, participants, survivors: null, dropped: [], refusals: [], failure: problem };
    if (!(await store.claimSecAggSession(db, experimentId, roundNo, sessionId, record))) return;
    if (problem) return this.conclude({ experimentId, round: roundNo, session: null }, sessionId, record, { ok: false, reason: problem });

    const session = new SecAggSession(
      {
        params: { roundId: sessionId, threshold: spec.threshold, length: shapeSize(exp.spec.shape), clip: spec.clip, maxWeight: spec.maxSamples, fractionBits },
        members: held.map((u) => ({ propletId: u.propletId, runId: u.runId! })),
        expect: { round: roundNo, baseModel: base!.digest, shape: exp.spec.shape },
        stepTimeoutMs: spec.stepTimeoutMs,
      },
      (propletId, step) =>
        this.ctx.publish(this.ctx.topics.proplet(propletId, "secagg/request"), encodeTopicMessage("secagg/request", { kind: "secagg.request", propletId, session: sessionId, step })),
      this.ctx.now,
      (from, reason) => this.ctx.log.warn({ experimentId, round: roundNo, from, reason }, "secure aggregation message refused"),
    );
    const running: Running = { experimentId, round: roundNo, session };
    this.sessions.set(sessionId, running);
    this.ctx.log.info({ experimentId, round: roundNo, session: sessionId, participants: participants.length, threshold: spec.threshold }, "secure aggregation started");
    void session
      .run()
      .then((outcome) => this.conclude(running, sessionId, record, outcome))
      .catch((err: unknown) => this.ctx.log.error({ experimentId, round: roundNo, err: messageOf(err) }, "secure aggregation could not be recorded"))
      .finally(() => this.sessions.delete(sessionId));
  }

  /** A validated reply on `propletId`'s own secagg/reply topic. */
  onReply(propletId: string, msg: SecAggReply): void {
    const running = this.sessions.get(msg.session);
    if (running) return running.session.onReply(propletId, msg);
    const holders = [...this.sessions.values()].filter((r) => r.session.includes(propletId));
    for (const r of holders) r.session.onForeign(propletId, msg.session);
    if (holders.length === 0) this.ctx.log.warn({ propletId, session: msg.session }, "secure aggregation reply for no session of this manager dropped");
  }

  /** A message on `propletId`'s secagg/reply topic that did not decode. */
  onMalformed(propletId: string, reason: string): void {
    const holders = [...this.sessions.values()].filter((r) => r.session.includes(propletId));
    for (const r of holders) r.session.onMalformed(propletId, reason);
    if (holders.length === 0) this.ctx.log.warn({ propletId, reason: reason.slice(0, 300) }, "malformed secure aggregation message from a proplet in no session dropped");
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const r of this.sessions.values()) r.session.abort();
  }

  /**
   * Records the session's end under the experiment's lock: the model version (mean = sum / total
   * weight), or the round's failure; who left and why; every refused message.
   */
  private async conclude(running: Pick<Running, "experimentId" | "round"> & { session: SecAggSession | null }, sessionId: string, base: store.SecAggRecord, outcome: SessionOutcome): Promise<void> {
    if (this.closing) return;
    const { experimentId, round: roundNo, session } = running;
    const started = performance.now();
    const departures = session ? [...session.departures.values()] : [];
    const record: store.SecAggRecord = {
      ...base,
      survivors: outcome.ok ? outcome.result.survivors : null,
      dropped: departures.map((d) => ({ propletId: d.propletId, reason: d.reason })),
      refusals: session ? [...session.refusals] : [],
      failure: outcome.ok ? null : outcome.reason,
    };
    await this.ctx.db.transaction(async (tx) => {
      const exp = await store.getExperiment(tx, experimentId, { forUpdate: true });
      const round = await store.getRound(tx, experimentId, roundNo);
      if (!exp || exp.state !== "running" || !round || round.state !== "aggregating" || round.secaggSession !== sessionId) return; // stopped meanwhile
      await store.setRoundSecAgg(tx, experimentId, roundNo, record);
      for (const d of departures) await store.demoteUpdate(tx, { experimentId, round: roundNo, propletId: d.propletId }, d.state, `secagg_${d.state === "missing" ? "dropout" : "refused"}: ${d.reason}`);
      const now = this.ctx.now();
      if (exp.spec.dropouts === "exclude") for (const d of departures) await store.excludeParticipant(tx, experimentId, d.propletId, `round ${roundNo}: secure aggregation: ${d.reason}`);
      if (!outcome.ok) return failRound(tx, exp, round, now, `secure aggregation failed: ${outcome.reason}`);
      const { result } = outcome;
      if (result.survivors.length < exp.spec.k) return failRound(tx, exp, round, now, `only ${result.survivors.length} updates are in the secure sum; ${exp.spec.k} needed`);
      if (result.weight < 1) return failRound(tx, exp, round, now, "the secure sum carries no samples");
      const model: FlModel = { shape: exp.spec.shape, weights: Array.from(result.mean, (w) => (Object.is(w, -0) ? 0 : w)) };
      const encoded = encodeModel(model);
      if (Buffer.byteLength(encoded) > LIMITS.flModelBytes) return failRound(tx, exp, round, now, `the aggregated model exceeds ${LIMITS.flModelBytes} bytes encoded`);
      const digest = modelDigest(model);
      const updates = await store.listUpdates(tx, experimentId, roundNo);
      await store.insertModel(tx, {
        experimentId,
        version: roundNo,
        round: roundNo,
        digest,
        encoded,
        samples: result.weight,
        updates: result.survivors.map((p) => ({ propletId: p, digest: updates.find((u) => u.propletId === p)?.digest ?? "", samples: null })),
        createdAt: now,
      });
      const finishedAt = new Date(now.getTime() + Math.round(performance.now() - started));
      await store.setRound(tx, experimentId, roundNo, { state: "completed", modelVersion: roundNo, finishedAt });
      this.ctx.log.info({ experimentId, round: roundNo, survivors: result.survivors.length, dropped: departures.length, refusals: record.refusals.length, digest }, "federated round securely aggregated");
    });
    this.requestAdvance();
  }
}
