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
import { scheduleRuns } from "../tasks/transitions.js";
import { choosePlacement, summarizeRefusals, type Candidate } from "./choose.js";
import { messageOf } from "../../lib/errors.js";
import type { ManagerEventType } from "../events.js";
import { ATTR, SPAN } from "../../protocol/index.js";
import { managerTracer, runTraces } from "../telemetry/tracing.js";

/** Every event that may let a queued run be placed: new runs, freed slots, new or changed capacity. */
export const SCHEDULER_WAKES_ON = ["task.runnable", "task.stopped", "run.finished", "runs.lost", "proplet.joined", "proplet.heartbeat"] as const satisfies readonly ManagerEventType[];

const BATCH = 500;
/** Runs claimed when no slot is free (or few are): enough to keep pending reasons current. */
const REASON_PAGE = 50;
/** Pages of BATCH rows (their total) looked at in one pass when the head of the queue fits nowhere. */
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
    const passStart = Date.now();
    const placed: Array<{ run: RunRecord; task: TaskRecord }> = [];
    let more = false;
    await this.ctx.db.transaction(async (tx) => {
      const [proplets, usage] = await Promise.all([propletStore.listProplets(tx, { aliveOnly: true }), runStore.usageByProplet(tx)]);
      const candidates: Candidate[] = proplets.map((p) => ({ proplet: p, load: usage.get(p.id)?.runs ?? 0, memoryUsed: usage.get(p.id)?.memoryBytes ?? 0 }));
      const freeSlots = () => candidates.reduce((n, c) => n + Math.max(0, c.proplet.capabilities.maxConcurrency - c.load), 0);
      // Claim about as many runs as could be placed (twice the free slots, so runs that fit nowhere
      // at the head do not starve the ones behind); with no free slot, one small page, only to keep
      // the queue's pending reasons true. Claiming a fixed 500 per pass made every finished run cost
      // a 500-row lock and sort.
      const free = freeSlots();
      const limit = free === 0 ? REASON_PAGE : Math.min(BATCH, Math.max(REASON_PAGE, free * 2));
      // Page on only while a full page placed nothing and some live proplet still has a free slot:
      // runs that fit nowhere at the head of the queue do not hide the ones behind them.
      // The same reach into the queue per pass (MAX_PAGES × BATCH rows) whatever the page size.
      const pages = Math.ceil((MAX_PAGES * BATCH) / limit);
      for (let page = 0; page < pages; page++) {
        const queued = await runStore.claimQueuedRuns(tx, limit, { now, agingMs: this.ctx.config.priorityAgingMs, offset: page * limit });
        if (queued.length === 0) return;
        const before = placed.length;
        const chosenHere: Array<{ run: RunRecord; task: TaskRecord; propletId: string }> = [];
        for (const { run, task } of queued) {
          const placement = choosePlacement(task.spec, candidates, { strategy: this.ctx.config.placement, target: run.pinnedProplet });
          if ("reason" in placement) {
            if (task.pendingReason !== placement.reason) {
              this.ctx.log.debug({ taskId: task.id, runId: run.id, reason: placement.reason, refusals: summarizeRefusals(placement.refusals) }, "run not placed");
              await taskStore.setPendingReason(tx, task.id, placement.reason);
            }
            continue;
          }
          const chosen = candidates.find((c) => c.proplet.id === placement.propletId)!;
          chosen.load++;
          chosen.memoryUsed = (chosen.memoryUsed ?? 0) + task.spec.limits.memoryBytes;
          chosenHere.push({ run, task, propletId: placement.propletId });
        }
        // One statement for all the page's placements (runs and tasks were locked by the claim).
        const scheduled = await scheduleRuns(tx, chosenHere, now);
        const specs = new Map(chosenHere.map((c) => [c.run.id, c.task]));
        for (const run of scheduled) placed.push({ run, task: specs.get(run.id)! });
        const full = queued.length === limit;
        // A full page with something placed: another pass follows (from the head, in queue order).
        if (placed.length > before) {
          more = full && freeSlots() > 0;
          return;
        }
        if (!full || freeSlots() === 0) return;
      }
    });
    // Each placed run's trace continues with its placement (the pass's time, from its queue span).
    for (const { run } of placed) {
      const span = managerTracer.startSpan(SPAN.runSchedule, { startTime: passStart, attributes: { [ATTR.taskId]: run.taskId, [ATTR.runId]: run.id, [ATTR.propletId]: run.propletId ?? "" } }, runTraces.parentOf(run.id));
      runTraces.remember(run.id, span);
      span.end();
    }
    await this.dispatcher.deliverAll(placed.map(({ run, task }) => ({ run, spec: task.spec })));
    return more;
  }
}
