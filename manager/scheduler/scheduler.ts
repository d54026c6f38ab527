/**
 * Hands queued runs to proplets. Runs when asked (task started, proplet announced or heartbeated,
 * run finished) and on every tick; one pass at a time per process. Claims queued runs with
 * FOR UPDATE SKIP LOCKED so several managers never dispatch the same run.
 */
import type { ManagerContext } from "../context.js";
import { CoalescedPass } from "../coalesced-pass.js";
import type { Dispatcher } from "../dispatch/dispatcher.js";
import * as propletStore from "../store/proplets.js";
import * as runStore from "../store/runs.js";
import * as taskStore from "../store/tasks.js";
import type { RunRecord, TaskRecord } from "../tasks/model.js";
import { transitionRun } from "../tasks/transitions.js";
import { choosePlacement, summarizeRefusals, type Candidate } from "./choose.js";
import { messageOf } from "../../lib/errors.js";
import type { ManagerEventType } from "../events.js";

/** Every event that may let a queued run be placed: new runs, freed slots, new or changed capacity. */
export const SCHEDULER_WAKES_ON = ["task.runnable", "task.stopped", "run.finished", "runs.lost", "proplet.joined", "proplet.heartbeat"] as const satisfies readonly ManagerEventType[];

const BATCH = 500;
/** Pages of BATCH looked at in one pass when the head of the queue fits nowhere. */
const MAX_PAGES = 10;

export class Scheduler {
  /** Coalesces requests: at most one pass runs, and one more follows if asked meanwhile. */
  private readonly passes: CoalescedPass;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly ctx: ManagerContext,
    private readonly dispatcher: Dispatcher,
  ) {
    this.passes = new CoalescedPass(
      () => this.pass(),
      (err) => {
        this.ctx.counters.inc("handlerErrors");
        this.ctx.log.error({ err: messageOf(err) }, "scheduling pass failed");
      },
    );
    this.unsubscribe = ctx.events.on(SCHEDULER_WAKES_ON, () => this.request());
  }

  request(): void {
    this.passes.request();
  }

  close(): Promise<void> {
    this.unsubscribe();
    return this.passes.close();
  }

  /**
   * One pass over queued runs in queue order (runs.ts claimQueuedRuns: effective priority, then
   * age); each is placed if something fits, else it keeps its place and its task says why.
   */
  private async pass(): Promise<boolean> {
    const now = this.ctx.now();
    const placed: Array<{ run: RunRecord; task: TaskRecord }> = [];
    let more = false;
    await this.ctx.db.transaction(async (tx) => {
      let candidates: Candidate[] | null = null;
      // Page on only while a full page placed nothing and some live proplet still has a free slot:
      // runs that fit nowhere at the head of the queue do not hide the ones behind them.
      for (let page = 0; page < MAX_PAGES; page++) {
        const queued = await runStore.claimQueuedRuns(tx, BATCH, { now, agingMs: this.ctx.config.priorityAgingMs, offset: page * BATCH });
        if (queued.length === 0) return;
        if (!candidates) {
          const [proplets, usage] = await Promise.all([propletStore.listProplets(tx, { aliveOnly: true }), runStore.usageByProplet(tx)]);
          candidates = proplets.map((p) => ({ proplet: p, load: usage.get(p.id)?.runs ?? 0, memoryUsed: usage.get(p.id)?.memoryBytes ?? 0 }));
        }
        const before = placed.length;
        for (const { run, task } of queued) {
          const placement = choosePlacement(task.spec, candidates, { strategy: this.ctx.config.placement, target: run.pinnedProplet });
          if ("reason" in placement) {
            if (task.pendingReason !== placement.reason) {
              this.ctx.log.debug({ taskId: task.id, runId: run.id, reason: placement.reason, refusals: summarizeRefusals(placement.refusals) }, "run not placed");
            }
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
          const chosen = candidates.find((c) => c.proplet.id === placement.propletId)!;
          chosen.load++;
          chosen.memoryUsed = (chosen.memoryUsed ?? 0) + task.spec.limits.memoryBytes;
          placed.push({ run: scheduled, task });
        }
        const full = queued.length === BATCH;
        // A full page with something placed: another pass follows (from the head, in queue order).
        if (placed.length > before) {
          more = full;
          return;
        }
        const room = candidates.some((c) => c.load < c.proplet.capabilities.maxConcurrency);
        if (!full || !room) return;
      }
    });
    for (const { run, task } of placed) await this.dispatcher.deliver(run, task.spec);
    return more;
  }
}
