/**
 * A run's output as it is written, streamed as `task.log` messages (stream stdout or stderr) while
 * the run runs. In order (one publish at a time, `seq` from 1), lossless up to the output cap (the
 * runtime hands over only what it keeps), and bounded: what is written within FLUSH_MS is sent
 * together (consecutive writes of one stream joined), each message at most MESSAGE_DATA_BYTES. The final result still
 * carries the captured output; live lines are a view, not the record.
 */
import { LIMITS } from "../../protocol/index.js";

export const FLUSH_MS = 100;
/** The protocol's bound on one task.log's data. */
export const MESSAGE_DATA_BYTES = LIMITS.taskLogDataBytes;

export type OutputStream = "stdout" | "stderr";

export interface LiveOutputDeps {
  /** Publishes one task.log (QoS 1); a rejection is logged by the caller and the stream goes on. */
  send(seq: number, stream: OutputStream, data: Buffer): Promise<void>;
  onError(err: unknown): void;
}

export class LiveOutput {
  private pending: Array<{ stream: OutputStream; data: Uint8Array }> = [];
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private seq = 0;

  constructor(private readonly deps: LiveOutputDeps) {}

  /** A part the runtime kept (called from the runtime's message handler: never blocks). */
  write(stream: OutputStream, data: Uint8Array): void {
    if (data.byteLength === 0) return;
    this.pending.push({ stream, data: new Uint8Array(data) });
    this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  /** Sends what is buffered; resolves once everything written so far has been published (or failed). */
  end(): Promise<void> {
    this.flush();
    return this.chain;
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const parts = this.pending;
    this.pending = [];
    // Consecutive parts of one stream are joined, then cut to the message bound.
    const messages: Array<{ stream: OutputStream; data: Buffer }> = [];
    for (const part of parts) {
      const last = messages[messages.length - 1];
      if (last && last.stream === part.stream && last.data.byteLength + part.data.byteLength <= MESSAGE_DATA_BYTES) last.data = Buffer.concat([last.data, part.data]);
      else for (let at = 0; at < part.data.byteLength; at += MESSAGE_DATA_BYTES) messages.push({ stream: part.stream, data: Buffer.from(part.data.subarray(at, at + MESSAGE_DATA_BYTES)) });
    }
    for (const m of messages) {
      const seq = ++this.seq;
      this.chain = this.chain.then(() => this.deps.send(seq, m.stream, m.data)).catch((err: unknown) => this.deps.onError(err));
    }
  }
}
