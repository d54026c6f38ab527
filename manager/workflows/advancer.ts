/** Runs workflow advancement when asked (a run finished, a workflow started) and on every tick; one pass at a time. */
import type { ManagerContext } from "../context.js";
import { CoalescedPass } from "../coalesced-pass.js";
import { advanceWorkflows } from "./advance.js";
import { messageOf } from "../../lib/errors.js";

export class Advancer {
  private readonly passes: CoalescedPass;

  constructor(ctx: ManagerContext) {
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
    return this.passes.close();
  }
}
