/**
 * After a manager (re)start: runs the database says are running were handed out by an earlier
 * process. Proplets re-announce (manager.online) with the runs they hold; each run claimed by its
 * proplet carries on, and one not claimed within reconcileGraceMs is lost (failed or rescheduled
 * per its task's policy). Results that arrive meanwhile are stored as usual.
 */
import type { ManagerContext } from "../context.js";
import * as runStore from "../store/runs.js";
import { isActiveRun } from "../tasks/state.js";
import { loseRun } from "./loss.js";

export class Reconciler {
  private readonly unclaimed = new Map<string, string>();
  private deadline = 0;

  constructor(private readonly ctx: ManagerContext) {}

  /** Remembers the runs running at start. Scheduled ones need no grace: the ack sweep redelivers them. */
  async begin(): Promise<number> {
    const runs = await runStore.activeRuns(this.ctx.db);
    for (const run of runs) if (run.state === "running" && run.propletId) this.unclaimed.set(run.id, run.propletId);
    this.deadline = this.ctx.now().getTime() + this.ctx.config.reconcileGraceMs;
    if (this.unclaimed.size > 0) {
      this.ctx.log.info({ runs: this.unclaimed.size, graceMs: this.ctx.config.reconcileGraceMs }, "reconciling runs from before the restart");
    }
    return this.unclaimed.size;
  }

  claimed(runId: string): void {
    this.unclaimed.delete(runId);
  }

  get pending(): number {
    return this.unclaimed.size;
  }

  /** Called on every tick: once the grace is over, loses what was not claimed. */
  async check(): Promise<void> {
    if (this.unclaimed.size === 0 || this.ctx.now().getTime() < this.deadline) return;
    const entries = [...this.unclaimed.entries()];
    this.unclaimed.clear();
    const runs = await runStore.getRuns(this.ctx.db, entries.map(([id]) => id));
    for (const run of runs) {
      if (!isActiveRun(run.state)) continue; // its result arrived meanwhile
      const reason = `run was not claimed by proplet ${run.propletId} within ${this.ctx.config.reconcileGraceMs} ms after the manager restarted`;
      await loseRun(this.ctx, run, reason);
    }
    this.ctx.requestSchedule();
  }
}
