/**
 * Which proplets are alive: registered by `proplet.announce`, kept by heartbeats, gone on
 * `proplet.status` offline (often the broker publishing their last will) or after
 * heartbeatTimeoutMs of silence. A proplet the manager does not know that heartbeats is asked to
 * announce itself again. What happens to a lost proplet's runs: loss.ts (and reconcile.ts for
 * the grace a proplet gets to come back after its last will).
 */
import type { PropletAnnounce, PropletHeartbeat, PropletStatus, RunRef } from "../../protocol/index.js";
import type { ManagerContext } from "../context.js";
import type { Dispatcher } from "../dispatch/dispatcher.js";
import { reannounceMessage } from "../dispatch/messages.js";
import * as propletStore from "../store/proplets.js";
import * as runStore from "../store/runs.js";
import { isActiveRun, isTerminalRun } from "../tasks/state.js";
import { transitionRun } from "../tasks/transitions.js";
import { loseProplet } from "./loss.js";
import type { Reconciler } from "./reconcile.js";
import { messageOf } from "../../lib/errors.js";

/** At most one reannounce request per proplet per this many ms (heartbeats can be frequent). */
const REANNOUNCE_EVERY_MS = 1000;

export class Liveness {
  private readonly lastReannounce = new Map<string, number>();
  /** Silence is measured from the later of the last message and this (the manager's start or its last reconnect to the broker). */
  private silenceBaseline: number;

  constructor(
    private readonly ctx: ManagerContext,
    private readonly dispatcher: Dispatcher,
    private readonly reconciler: Reconciler,
  ) {
    this.silenceBaseline = ctx.now().getTime();
  }

  /**
   * After the manager (re)connects to the broker: nobody could reach it meanwhile, so silence
   * counts from now, not from their last message.
   */
  resetSilenceBaseline(): void {
    this.silenceBaseline = this.ctx.now().getTime();
  }

  async onAnnounce(msg: PropletAnnounce): Promise<void> {
    const now = this.ctx.now();
    const { wasAlive } = await propletStore.upsertAnnounced(this.ctx.db, {
      id: msg.propletId,
      name: msg.name,
      capabilities: msg.capabilities,
      identityKey: msg.identityKey ?? null,
      now,
    });
    if (!wasAlive) this.ctx.log.info({ propletId: msg.propletId, capabilities: msg.capabilities }, "proplet online");
    // Its series exist from the moment it joins, not from its first heartbeat a period later.
    this.ctx.metrics.heartbeat(msg.propletId, { running: msg.running.length, maxConcurrency: msg.capabilities.maxConcurrency });
    await this.claim(msg.propletId, msg.running);
    this.ctx.events.emit({ type: "proplet.joined", propletId: msg.propletId });
  }

  async onHeartbeat(msg: PropletHeartbeat): Promise<void> {
    const known = await propletStore.touchAlive(this.ctx.db, msg.propletId, this.ctx.now(), msg.intervalMs);
    if (!known) {
      await this.requestReannounce(msg.propletId);
      return;
    }
    this.ctx.metrics.heartbeat(msg.propletId, msg.load, msg.freeMemoryBytes);
    await this.claim(msg.propletId, msg.running);
    this.ctx.events.emit({ type: "proplet.heartbeat", propletId: msg.propletId });
  }

  async onStatus(msg: PropletStatus): Promise<void> {
    if (msg.state === "online") {
      const known = await propletStore.touchAlive(this.ctx.db, msg.propletId, this.ctx.now());
      if (!known) await this.requestReannounce(msg.propletId);
      return;
    }
    const reason = `proplet ${msg.propletId} went offline${msg.reason ? ` (${msg.reason})` : ""}`;
    // Gone for scheduling at once; its runs wait reconcileGraceMs for it to come back and claim
    // them (brokers publish wills on their own shutdown and on session takeover, too).
    if (!(await propletStore.markGone(this.ctx.db, msg.propletId, reason, this.ctx.now()))) return;
    this.ctx.metrics.propletGone(msg.propletId);
    this.ctx.log.warn({ propletId: msg.propletId }, reason);
    const held = await runStore.activeRuns(this.ctx.db, msg.propletId);
    for (const run of held) this.reconciler.expect(run, reason);
    if (this.ctx.config.reconcileGraceMs === 0) await this.reconciler.check();
  }

  /** Marks proplets gone that have been silent longer than heartbeatTimeoutMs. */
  async sweepSilent(): Promise<void> {
    const timeout = this.ctx.config.heartbeatTimeoutMs;
    const now = this.ctx.now().getTime();
    // Right after a (re)start or a reconnect nobody had a chance to heartbeat to us yet.
    if (now - this.silenceBaseline < timeout) return;
    const silent = await propletStore.silentSince(this.ctx.db, new Date(now - timeout));
    for (const p of silent) {
      await this.gone(p.id, `proplet ${p.id} missed heartbeats for ${timeout} ms (last seen ${p.lastSeenAt.toISOString()})`);
    }
  }

  /** DELETE /proplets/:id: forget it; its runs are handled as if it went away. */
  async remove(propletId: string): Promise<boolean> {
    await propletStore.markGone(this.ctx.db, propletId, "removed", this.ctx.now());
    this.ctx.metrics.propletGone(propletId);
    await loseProplet(this.ctx, propletId, `proplet ${propletId} was removed`);
    return propletStore.deleteProplet(this.ctx.db, propletId);
  }

  /** Silent past heartbeatTimeoutMs: its runs are lost now (it had all that time to speak). */
  private async gone(propletId: string, reason: string): Promise<void> {
    // Only the handler that flips alive → gone handles the loss (status and sweep can race).
    if (!(await propletStore.markGone(this.ctx.db, propletId, reason, this.ctx.now()))) return;
    this.ctx.metrics.propletGone(propletId);
    this.ctx.log.warn({ propletId }, reason);
    const held = await runStore.activeRuns(this.ctx.db, propletId);
    await loseProplet(this.ctx, propletId, reason);
    // Should it still be alive after all (missed heartbeats), it must not keep running them.
    for (const run of held) await this.dispatcher.stop(run, reason);
  }

  /**
   * A proplet lists the runs it holds: those that are ours and assigned to it are confirmed (and
   * a scheduled one whose accept was lost becomes running); a run that is no longer its to run is
   * stopped on the proplet.
   */
  private async claim(propletId: string, running: readonly RunRef[]): Promise<void> {
    if (running.length === 0) return;
    const runs = await runStore.getRuns(this.ctx.db, running.map((r) => r.runId));
    const byId = new Map(runs.map((r) => [r.id, r]));
    for (const ref of running) {
      const run = byId.get(ref.runId);
      if (run && run.taskId === ref.taskId && run.propletId === propletId && isActiveRun(run.state)) {
        this.reconciler.claimed(run.id, propletId);
        if (run.state === "scheduled") {
          const now = this.ctx.now();
          await this.ctx.db.transaction((tx) => transitionRun(tx, run, "running", { acceptedAt: now, startedAt: now }, now, { expectedProplet: propletId }));
        }
      } else if (!run || run.propletId !== propletId || isTerminalRun(run.state)) {
        // Not ours (any more): a result may still come and is handled then; the proplet should stop.
        if (run && run.propletId === propletId && run.state === "completed") continue;
        await this.dispatcher.stop({ id: ref.runId, taskId: ref.taskId, propletId }, "run is no longer assigned to this proplet");
      }
    }
  }

  private async requestReannounce(propletId: string): Promise<void> {
    const now = Date.now();
    if (now - (this.lastReannounce.get(propletId) ?? 0) < REANNOUNCE_EVERY_MS) return;
    this.lastReannounce.set(propletId, now);
    if (this.lastReannounce.size > 10_000) this.lastReannounce.clear(); // bounded
    this.ctx.counters.inc("reannounceRequests");
    await this.ctx
      .publish(this.ctx.topics.proplet(propletId, "control"), reannounceMessage(propletId))
      .catch((err: unknown) => this.ctx.log.warn({ propletId, err: messageOf(err) }, "could not ask for a re-announce"));
  }
}
