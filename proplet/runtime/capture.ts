/** What every runtime does with a guest's output and with a stop request, in one place. */

/** Output collected up to a cap; anything beyond is counted as truncated, not kept. */
export class Capture {
  private readonly chunks: Uint8Array[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly cap: number) {}

  push(data: Uint8Array): void {
    const room = this.cap - this.size;
    if (data.byteLength > room) this.truncated = true;
    if (room <= 0) return;
    const take = data.byteLength > room ? data.subarray(0, room) : data;
    this.chunks.push(take);
    this.size += take.byteLength;
  }

  bytes(): Uint8Array {
    return Buffer.concat(this.chunks);
  }
}

/** The run error of a stopped run: the stop's reason when one was given. */
export function stoppedError(signal: AbortSignal): { code: string; message: string } {
  const reason = typeof signal.reason === "string" ? signal.reason : "stopped by request";
  return { code: "stopped", message: reason.slice(0, 1000) };
}
