/** Runs workflow advancement when asked (a run finished, a workflow started) and on every tick; one pass at a time. */
import type { ManagerContext } from "../context.js";
import { advanceWorkflows } from "./advance.js";

export class Advancer {
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(private readonly ctx: ManagerContext) {}

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
        await advanceWorkflows(this.ctx);
      } catch (err) {
        this.ctx.counters.inc("handlerErrors");
        this.ctx.log.error({ err: (err as Error).message }, "workflow advancement failed");
      }
    } while (this.again && !this.stopped);
  }
}
