/** Runs federated-learning advancement when a run ends and on every tick (deadlines); one pass at a time. */
import type { ManagerContext } from "../context.js";
import { CoalescedPass } from "../coalesced-pass.js";
import type { TaskService } from "../tasks/service.js";
import { messageOf } from "../../lib/errors.js";
import type { ManagerEventType } from "../events.js";
import { advanceExperiments } from "./advance.js";
import { SecAggRounds } from "./secagg.js";

const WAKES_ON = ["run.finished", "task.stopped", "runs.lost"] as const satisfies readonly ManagerEventType[];

export class FlAdvancer {
  private readonly passes: CoalescedPass;
  private readonly unsubscribe: () => void;

  /** Secure aggregation sessions of this manager (the router hands them their replies). */
  readonly secagg: SecAggRounds;

  constructor(ctx: ManagerContext, tasks: TaskService) {
    this.unsubscribe = ctx.events.on(WAKES_ON, () => this.request());
    this.secagg = new SecAggRounds(ctx, () => this.request());
    this.passes = new CoalescedPass(
      () => advanceExperiments(ctx, tasks, this.secagg).then(() => false),
      (err) => {
        ctx.counters.inc("handlerErrors");
        ctx.log.error({ err: messageOf(err) }, "federated learning advancement failed");
      },
    );
  }

  request(): void {
    this.passes.request();
  }

  async close(): Promise<void> {
    this.unsubscribe();
    await this.secagg.close();
    return this.passes.close();
  }
}
