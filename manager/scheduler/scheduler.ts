/**
 * Hands queued runs to proplets. Runs when asked (task started, proplet announced or heartbeated,
 * run finished) and on every tick; one pass at a time per process. Claims queued runs with
 * FOR UPDATE SKIP LOCKED so several managers never dispatch the same run.
 */
import type { ManagerContext } from "../context.js";
import type { Dispatcher } from "../dispatch/dispatcher.js";
import * as propletStore from "../store/proplets.js";
import * as runStore from "../store/runs.js";
import * as taskStore from "../store/tasks.js";
import type { RunRecord, TaskRecord } from "../tasks/model.js";
import { transitionRun } from "../tasks/transitions.js";
import { choosePlacement, type Candidate } from "./choose.js";

const BATCH = 200;

export class Scheduler {
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(
    private readonly ctx: ManagerContext,
    private readonly dispatcher: Dispatcher,
  ) {}

  /** Coalesces requests: at most one pass runs, and one more follows if asked meanwhile. */
  request(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.loop().finally(() => {
      this.running = null;
    });
  }

  async close(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      try {
        const more = await this.pass();
        if (more) this.again = true;
      } catch (err) {
        this.ctx.counters.inc("handlerErrors");
        this.ctx.log.error({ err: (err as Error).message }, "scheduling pass failed");
      }
    } while (this.again && !this.stopped);
  }

  /** One pass over queued runs; true when a full batch was placed (there may be more). */
  private async pass(): Promise<boolean> {
    const now = this.ctx.now();
    const placed: Array<{ run: RunRecord; task: TaskRecord }> = [];
    await this.ctx.db.transaction(async (tx) => {
      const queued = await runStore.claimQueuedRuns(tx, BATCH);
      if (queued.length === 0) return;
      const [proplets, load] = await Promise.all([propletStore.listProplets(tx, { aliveOnly: true }), runStore.loadByProplet(tx)]);
      const candidates: Candidate[] = proplets.map((p) => ({ proplet: p, load: load.get(p.id) ?? 0 }));
      for (const { run, task } of queued) {
        const placement = choosePlacement(task.spec, candidates);
        if ("reason" in placement) {
          await taskStore.setPendingReason(tx, task.id, placement.reason);
          continue;
        }
        const scheduled = await transitionRun(
          tx,
          run,
          "scheduled",
          { propletId: placement.propletId, deliveries: 1, dispatchedAt: now, lastDeliveryAt: now },
          now,
        );
        if (!scheduled) continue;
        candidates.find((c) => c.proplet.id === placement.propletId)!.load++;
        placed.push({ run: scheduled, task });
      }
    });
    for (const { run, task } of placed) await this.dispatcher.deliver(run, task.spec);
    return placed.length === BATCH;
  }
}
