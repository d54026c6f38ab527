/**
 * Moves running experiments on (docs/fl.md "Rounds"). One pass:
 * 1. In one transaction, each running experiment this manager can lock (FOR UPDATE SKIP LOCKED):
 *    the open round's runs are judged (accepted, rejected with a reason, or missing); a round whose
 *    every participant answered, or past its deadline, or (close-at-k) with k accepted, closes:
 *    FedAvg into the next model version when k were accepted, else the round and the experiment
 *    fail. Then the next round is inserted ("opening"), or the experiment completes.
 * 2. For each opening round, every invited participant's training task is created (not started),
 *    then recorded by a conditional UPDATE under the experiment's lock and only then queued: two
 *    managers never queue one participant's run of a round twice (the loser deletes its task).
 * 3. Stragglers' runs are stopped.
 * Everything is in the database, so a restarted manager resumes where the last pass left off.
 */
import type { SqlExecutor } from "../../db/index.js";
import type { ManagerContext } from "../context.js";
import { LIMITS, encodeModel, modelDigest, type FlModel } from "../../protocol/index.js";
import * as runStore from "../store/runs.js";
import * as taskStore from "../store/tasks.js";
import { queueRun } from "../tasks/transitions.js";
import type { TaskService } from "../tasks/service.js";
import { messageOf } from "../../lib/errors.js";
import { fedAvg } from "./fedavg.js";
import { judgeRun } from "./judge.js";
import { invitedFor } from "./spec.js";
import * as store from "./store.js";
import { failRound } from "./rounds.js";
import { SecAggRounds } from "./secagg.js";

const BATCH = 20;

interface Opening {
  experimentId: string;
  round: number;
  propletId: string;
}

export async function advanceExperiments(ctx: ManagerContext, tasks: TaskService, secagg: SecAggRounds): Promise<void> {
  const openings: Opening[] = [];
  const toStop: string[] = [];
  const toAggregate: Array<{ experimentId: string; round: number }> = [];
  await ctx.db.transaction(async (tx) => {
    for (const exp of await store.claimRunning(tx, BATCH)) {
      await advanceOne(ctx, tx, exp, openings, toStop, { secagg, toAggregate });
    }
  });
  // After the commit: each session claims its round in its own statement.
  for (const a of toAggregate) await secagg.begin(a.experimentId, a.round).catch((err: unknown) => ctx.log.error({ ...a, err: messageOf(err) }, "secure aggregation could not start"));
  let queued = 0;
  for (const o of openings) {
    try {
      if (await openTask(ctx, tasks, o)) queued++;
    } catch (err) {
      await failExperiment(ctx, o.experimentId, `round ${o.round}: the training task for ${o.propletId} could not be created: ${messageOf(err)}`);
    }
  }
  if (queued > 0) ctx.events.emit({ type: "task.runnable" });
  for (const taskId of toStop) await tasks.stop(taskId).catch(() => undefined);
}

async function advanceOne(
  ctx: ManagerContext,
  tx: SqlExecutor,
  exp: store.ExperimentRecord,
  openings: Opening[],
  toStop: string[],
  aggregation: { secagg: SecAggRounds; toAggregate: Array<{ experimentId: string; round: number }> },
): Promise<void> {
  const now = ctx.now();
  const spec = exp.spec;
  let round = exp.currentRound > 0 ? await store.getRound(tx, exp.id, exp.currentRound) : null;

  if (round && round.state === "training") {
    const closed = await progressRound(ctx, tx, exp, round, now, toStop);
    if (closed === "failed") return;
    if (closed === "open") return;
    round = await store.getRound(tx, exp.id, exp.currentRound);
  }

  if (round && round.state === "aggregating") {
    if (aggregation.secagg.isRunning(exp.id, round.round)) return;
    if (round.secaggSession === null) {
      aggregation.toAggregate.push({ experimentId: exp.id, round: round.round });
    } else if (SecAggRounds.abandoned(round, spec.secagg?.stepTimeoutMs ?? 10_000, now)) {
      // Not resumed: its participants masked their updates once and forgot them (docs/fl.md).
      await failRound(tx, exp, round, now, `secure aggregation session ${round.secaggSession} was interrupted (the manager running it stopped) and cannot be resumed`);
    }
    return;
  }

  if (round && round.state === "opening") {
    const updates = await store.listUpdates(tx, exp.id, round.round);
    const missingTask = updates.filter((u) => u.taskId === null);
    if (missingTask.length === 0) {
      await store.setRound(tx, exp.id, round.round, { state: "training", openedAt: now });
    } else {
      for (const u of missingTask) openings.push({ experimentId: exp.id, round: round.round, propletId: u.propletId });
    }
    return;
  }

  // No round yet, or the current one completed: the next one, or the end.
  const next = exp.currentRound + 1;
  if (round && round.state !== "completed") return;
  if (next > spec.rounds) {
    await store.setExperimentState(tx, exp.id, { state: "completed", now, finishedAt: now });
    ctx.log.info({ experimentId: exp.id, rounds: spec.rounds }, "federated experiment completed");
    return;
  }
  const participants = (await store.listParticipants(tx, exp.id)).filter((p) => p.state === "active").map((p) => p.propletId);
  const fraction = spec.participants.kind === "selector" ? spec.participants.fraction : 1;
  const invited = invitedFor(participants, fraction, spec.k, next);
  if (invited.length < spec.k) {
    await store.setExperimentState(tx, exp.id, { state: "failed", reason: `round ${next}: only ${invited.length} active participants, ${spec.k} updates needed`, now, finishedAt: now });
    return;
  }
  const baseVersion = round?.modelVersion ?? 0;
  await store.insertRound(tx, { experimentId: exp.id, round: next, baseVersion, now, deadlineAt: new Date(now.getTime() + spec.roundDeadlineMs) });
  for (const p of invited) {
    await store.insertUpdate(tx, { experimentId: exp.id, round: next, propletId: p });
    openings.push({ experimentId: exp.id, round: next, propletId: p });
  }
  await store.setExperimentState(tx, exp.id, { state: "running", now, currentRound: next });
}

/** Judges the round's runs; closes it when it may. "open": still training; "completed" / "failed": closed now. */
async function progressRound(
  ctx: ManagerContext,
  tx: SqlExecutor,
  exp: store.ExperimentRecord,
  round: store.RoundRecord,
  now: Date,
  toStop: string[],
): Promise<"open" | "aggregating" | "completed" | "failed"> {
  const spec = exp.spec;
  const base = await store.getModel(tx, exp.id, round.baseVersion);
  if (!base) {
    await failRound(tx, exp, round, now, `its base model version ${round.baseVersion} is missing`);
    return "failed";
  }
  const updates = await store.listUpdates(tx, exp.id, round.round);
  for (const u of updates) {
    if (u.state !== "pending") continue;
    const task = u.taskId ? await taskStore.getTask(tx, u.taskId) : null;
    const run = task?.latestRunId ? await runStore.getRun(tx, task.latestRunId) : null;
    const verdict = judgeRun(run, { round: round.round, baseModel: base.digest, shape: spec.shape, attested: spec.attested, propletId: u.propletId, held: spec.aggregation === "secagg" });
    const key = { experimentId: exp.id, round: round.round, propletId: u.propletId };
    if (verdict.state === "pending") continue;
    if (verdict.state === "held") {
      // Accepted as held: the update itself stays on the proplet until secure aggregation masks it.
      await store.setUpdate(tx, key, { state: "accepted", runId: run!.id, digest: verdict.held.update, attested: verdict.attested, finishedAt: now });
      u.state = "accepted";
      u.digest = verdict.held.update;
      u.runId = run!.id;
    } else if (verdict.state === "accepted") {
      await store.setUpdate(tx, key, { state: "accepted", runId: run!.id, digest: verdict.digest, samples: verdict.update.samples, attested: verdict.attested, weights: verdict.update.weights, finishedAt: now });
      u.state = "accepted";
      u.weights = verdict.update.weights;
      u.samples = verdict.update.samples;
      u.digest = verdict.digest;
    } else {
      await store.setUpdate(tx, key, { state: verdict.state, reason: verdict.reason, runId: run?.id ?? null, digest: verdict.digest ?? null, attested: verdict.attested ?? null, finishedAt: now });
      u.state = verdict.state;
      u.reason = verdict.reason;
      ctx.log.warn({ experimentId: exp.id, round: round.round, propletId: u.propletId, reason: verdict.reason }, `federated update ${verdict.state}`);
    }
  }
  const accepted = updates.filter((u) => u.state === "accepted");
  const pending = updates.filter((u) => u.state === "pending");
  const pastDeadline = now.getTime() >= round.deadlineAt.getTime();
  const earlyClose = spec.stragglers === "close-at-k" && accepted.length >= spec.k;
  if (pending.length > 0 && !pastDeadline && !earlyClose) return "open";

  for (const u of pending) {
    const reason = pastDeadline ? `straggler: no update by the round deadline (${round.deadlineAt.toISOString()})` : `straggler: the round closed when ${spec.k} updates were accepted`;
    await store.setUpdate(tx, { experimentId: exp.id, round: round.round, propletId: u.propletId }, { state: "missing", reason, finishedAt: now });
    u.state = "missing";
    u.reason = reason;
    if (u.taskId) toStop.push(u.taskId);
  }
  if (spec.dropouts === "exclude") {
    for (const u of updates) if (u.state !== "accepted") await store.excludeParticipant(tx, exp.id, u.propletId, `round ${round.round}: ${u.reason ?? u.state}`);
  }
  if (accepted.length < spec.k) {
    await failRound(tx, exp, round, now, `only ${accepted.length} of ${updates.length} updates accepted; ${spec.k} needed`);
    return "failed";
  }
  if (spec.aggregation === "secagg") {
    await store.setRound(tx, exp.id, round.round, { state: "aggregating", closedAt: now });
    return "aggregating";
  }
  const started = performance.now();
  const avg = fedAvg(accepted.map((u) => ({ propletId: u.propletId, samples: u.samples!, weights: u.weights! })));
  const model: FlModel = { shape: spec.shape, weights: avg.weights };
  const encoded = encodeModel(model);
  if (Buffer.byteLength(encoded) > LIMITS.flModelBytes) {
    await failRound(tx, exp, round, now, `the aggregated model exceeds ${LIMITS.flModelBytes} bytes encoded`);
    return "failed";
  }
  const version = round.round;
  const digest = modelDigest(model);
  const ordered = [...accepted].sort((a, b) => (a.propletId < b.propletId ? -1 : 1));
  await store.insertModel(tx, {
    experimentId: exp.id,
    version,
    round: round.round,
    digest,
    encoded,
    samples: avg.samples,
    updates: ordered.map((u) => ({ propletId: u.propletId, digest: u.digest!, samples: u.samples! })),
    createdAt: now,
  });
  const finishedAt = new Date(now.getTime() + Math.round(performance.now() - started));
  await store.setRound(tx, exp.id, round.round, { state: "completed", modelVersion: version, closedAt: now, finishedAt });
  ctx.log.info({ experimentId: exp.id, round: round.round, accepted: accepted.length, of: updates.length, digest }, "federated round aggregated");
  return "completed";
}

async function failExperiment(ctx: ManagerContext, experimentId: string, reason: string): Promise<void> {
  const now = ctx.now();
  await ctx.db.transaction(async (tx) => {
    const exp = await store.getExperiment(tx, experimentId, { forUpdate: true });
    if (!exp || exp.state !== "running") return;
    const round = exp.currentRound > 0 ? await store.getRound(tx, exp.id, exp.currentRound) : null;
    if (round && (round.state === "opening" || round.state === "training")) await store.setRound(tx, exp.id, round.round, { state: "failed", reason, finishedAt: now });
    await store.setExperimentState(tx, experimentId, { state: "failed", reason, now, finishedAt: now });
  });
  ctx.log.error({ experimentId, reason }, "federated experiment failed");
}

/**
 * Creates a participant's training task for an opening round, then, under the experiment's lock,
 * records and queues it if no other manager did first. True when this call queued the run.
 */
async function openTask(ctx: ManagerContext, tasks: TaskService, o: Opening): Promise<boolean> {
  const exp = await store.getExperiment(ctx.db, o.experimentId);
  if (!exp || exp.state !== "running") return false;
  const round = await store.getRound(ctx.db, o.experimentId, o.round);
  if (!round || round.state !== "opening") return false;
  const base = await store.getModel(ctx.db, exp.id, round.baseVersion);
  if (!base) throw new Error(`model version ${round.baseVersion} is missing`);
  const spec = exp.spec;
  const task = await tasks.create({
    name: `fl/${exp.id}/r${o.round}/${o.propletId}`,
    artifact: spec.workload,
    runtime: spec.runtime ?? "component",
    args: spec.args,
    env: { ...spec.env, FL_EXPERIMENT: exp.id, FL_ROUND: String(o.round), FL_MODEL_DIGEST: base.digest },
    // The global model of the previous round, delivered as the run's input (its digest is in the
    // env above; the run's receipt covers both through its input digest).
    stdin: Buffer.from(base.encoded, "utf8").toString("base64"),
    target: o.propletId,
    ...(spec.confidential ? { confidential: spec.confidential, requirements: { tee: spec.confidential.tee } } : {}),
    ...(spec.data ? { grants: { dirs: [{ guest: spec.data.guest, readonly: true, volume: spec.data.volume }] } } : {}),
    limits: {
      timeoutMs: Math.min(spec.limits.timeoutMs ?? spec.roundDeadlineMs, LIMITS.maxTimeoutMs),
      ...(spec.limits.memoryBytes ? { memoryBytes: spec.limits.memoryBytes } : {}),
      outputBytes: LIMITS.flUpdateBytes,
    },
    onPropletLoss: "fail",
    start: false,
    // Secure aggregation: the proplet keeps the update and reports only its digest.
  }, spec.aggregation === "secagg" ? { holdOutput: "secagg" } : {});
  const now = ctx.now();
  const bound = await ctx.db.transaction(async (tx) => {
    const locked = await store.claimOne(tx, o.experimentId);
    if (!locked) return false;
    if (!(await store.bindTask(tx, o.experimentId, o.round, o.propletId, task.id))) return false;
    const record = await taskStore.getTask(tx, task.id, { forUpdate: true });
    if (!record) return false;
    await queueRun(tx, record, now, `started by federated experiment ${o.experimentId} (round ${o.round})`);
    const left = (await store.listUpdates(tx, o.experimentId, o.round)).filter((u) => u.taskId === null);
    if (left.length === 0) await store.setRound(tx, o.experimentId, o.round, { state: "training", openedAt: now });
    return true;
  });
  if (!bound) await tasks.delete(task.id, true).catch(() => undefined);
  return bound;
}
