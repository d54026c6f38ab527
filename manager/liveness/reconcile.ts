/**
 * Runs whose proplet must come back and claim them, or lose them:
 * - after a manager (re)start, runs the database says are running were handed out by an earlier
 *   process; proplets re-announce (manager.online) with the runs they hold;
 * - after a proplet's `proplet.status` offline (its last will): brokers also publish wills when
 *   THEY shut down or when a client's session is taken over by its own reconnect, so a proplet
 *   that is back (announce or heartbeat listing the run) within the grace keeps its runs.
 * A run claimed by its proplet carries on; one not claimed within reconcileGraceMs is lost (failed
 * or rescheduled per its task's policy) with the reason recorded. Results that arrive meanwhile
 * are stored as usual.
 */
import type { ManagerContext } from "../context.js";
import * as runStore from "../store/runs.js";
import type { RunRecord } from "../tasks/model.js";
import { isActiveRun } from "../tasks/state.js";
import { loseRun } from "./loss.js";

interface Awaiting {
  propletId: string;
  deadline: number;
  reason: string;
}

export class Reconciler {
  private readonly awaiting = new Map<string, Awaiting>();

  constructor(
    private readonly ctx: ManagerContext,
    /** Tells the proplet to drop a run it did not claim (it may still hold it without saying so). */
    private readonly stopOnProplet: (run: RunRecord, reason: string) => Promise<void>,
  ) {}

  /** At start: the runs running now. Scheduled ones need no grace: the ack sweep redelivers them. */
  async begin(): Promise<number> {
    const grace = this.ctx.config.reconcileGraceMs;
    const runs = (await runStore.activeRuns(this.ctx.db)).filter((r) => r.state === "running" && r.propletId);
    for (const run of runs) {
      this.expect(run, `run was not claimed by proplet ${run.propletId} within ${grace} ms after the manager restarted`);
    }
    if (runs.length > 0) this.ctx.log.info({ runs: runs.length, graceMs: grace }, "reconciling runs from before the restart");
    return runs.length;
  }

  /** The run's proplet must claim it within reconcileGraceMs, or the run is lost with `reason`. */
  expect(run: RunRecord, reason: string): void {
    if (!run.propletId) return;
    this.awaiting.set(run.id, { propletId: run.propletId, deadline: this.ctx.now().getTime() + this.ctx.config.reconcileGraceMs, reason });
  }

  /** Its proplet listed the run in an announce or heartbeat. */
  claimed(runId: string, propletId: string): void {
    if (this.awaiting.get(runId)?.propletId === propletId) this.awaiting.delete(runId);
  }

  get pending(): number {
    return this.awaiting.size;
  }

  /** Called on every tick: loses what was not claimed in time. */
  async check(): Promise<void> {
    const now = this.ctx.now().getTime();
    const due = [...this.awaiting.entries()].filter(([, a]) => a.deadline <= now);
    if (due.length === 0) return;
    for (const [id] of due) this.awaiting.delete(id);
    const runs = new Map((await runStore.getRuns(this.ctx.db, due.map(([id]) => id))).map((r) => [r.id, r]));
    for (const [id, awaiting] of due) {
      const run = runs.get(id);
      if (!run || !isActiveRun(run.state) || run.propletId !== awaiting.propletId) continue; // finished meanwhile
      if ((await loseRun(this.ctx, run, awaiting.reason)) !== "unchanged") await this.stopOnProplet(run, awaiting.reason);
    }
    this.ctx.events.emit({ type: "runs.lost" });
  }
}
