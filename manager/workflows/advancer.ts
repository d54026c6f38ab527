/** Runs workflow advancement when asked (a run finished, a workflow started) and on every tick; one pass at a time. */
import type { ManagerContext } from "../context.js";
import { CoalescedPass } from "../coalesced-pass.js";
import { advanceWorkflows } from "./advance.js";
import { messageOf } from "../../lib/errors.js";
import type { ManagerEventType } from "../events.js";

/** What can let a workflow step on: one of its tasks ended (finished, stopped, or lost with its proplet). */
export const ADVANCER_WAKES_ON = ["run.finished", "task.stopped", "runs.lost"] as const satisfies readonly ManagerEventType[];

export class Advancer {
  private readonly passes: CoalescedPass;
  private readonly unsubscribe: () => void;

  constructor(ctx: ManagerContext) {
    this.unsubscribe = ctx.events.on(ADVANCER_WAKES_ON, () => this.request());
    this.passes = new CoalescedPass(
      () => advanceWorkflows(ctx).then(() => false),
      (err) => {
        ctx.counters.inc("handlerErrors");
        ctx.log.error({ err: messageOf(err) }, "workflow advancement failed");
      },
    );
  }

  request(): void {
    this.passes.request();
  }

  close(): Promise<void> {
    this.unsubscribe();
    return this.passes.close();
  }
}
