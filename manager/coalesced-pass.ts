/**
 * A background pass run on request, never two at once: requests while a pass runs coalesce into
 * one more pass after it. The scheduler and the workflow advancer are both driven this way (by
 * events and by the periodic tick). A pass may ask for another at once by returning true.
 */
export class CoalescedPass {
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(
    private readonly pass: () => Promise<boolean | void>,
    private readonly onError: (err: unknown) => void,
  ) {}

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

  /** No pass starts after this; resolves when the current one (if any) has ended. */
  async close(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      try {
        if ((await this.pass()) === true) this.again = true;
      } catch (err) {
        this.onError(err);
      }
    } while (this.again && !this.stopped);
  }
}
