import { messageOf } from "./errors.js";

/**
 * Reads a byte stream (an HTTP body, a file) into memory with a bound on its size and, optionally,
 * on the silence between chunks, so a hostile or broken peer cannot fill memory or hang a reader.
 * On any failure the stream is cancelled. Callers map `BoundedReadError.reason` to their own errors.
 */
export type BoundedReadFailure = "too_large" | "idle" | "aborted" | "failed";

export class BoundedReadError extends Error {
  constructor(
    readonly reason: BoundedReadFailure,
    message: string,
    /** Bytes received before the failure (including the chunk that passed the bound). */
    readonly bytesRead: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "BoundedReadError";
  }
}

export interface BoundedReadOptions {
  maxBytes: number;
  /** Fails with `idle` when no chunk arrives for this long. */
  idleTimeoutMs?: number;
  /** Fails with `aborted` when this signal aborts. */
  signal?: AbortSignal;
  /** Sees every accepted chunk in order (a hasher, a progress timer). */
  onChunk?: (chunk: Uint8Array) => void;
}

type Source = ReadableStream<Uint8Array> | null | undefined;
type ReadResult = Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>["read"]>>;

/**
 * The whole stream as one buffer; `BoundedReadError("too_large")` as soon as it passes `maxBytes`.
 * A missing stream reads as empty.
 */
export async function readBounded(stream: Source, options: BoundedReadOptions): Promise<Uint8Array> {
  const { chunks, total } = await collect(stream, options, false);
  return chunks.length === 1 ? chunks[0]! : new Uint8Array(Buffer.concat(chunks, total));
}

/**
 * At most `maxBytes` of the stream; when it is longer, the rest is cancelled and `truncated` is true
 * (for bodies shown as diagnostics, where a prefix is enough).
 */
export async function readBoundedPrefix(stream: Source, options: BoundedReadOptions): Promise<{ bytes: Uint8Array; truncated: boolean }> {
  const { chunks, total, truncated } = await collect(stream, options, true);
  const all = Buffer.concat(chunks, total);
  return { bytes: truncated ? all.subarray(0, options.maxBytes) : all, truncated };
}

/** `readBoundedPrefix` of a Response body as UTF-8 text. */
export async function readBoundedText(response: Response, maxBytes: number): Promise<{ text: string; truncated: boolean }> {
  const { bytes, truncated } = await readBoundedPrefix(response.body, { maxBytes });
  return { text: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"), truncated };
}

async function collect(stream: Source, options: BoundedReadOptions, truncate: boolean): Promise<{ chunks: Uint8Array[]; total: number; truncated: boolean }> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (!stream) return { chunks, total, truncated: false };
  const { maxBytes, idleTimeoutMs, signal, onChunk } = options;
  const reader = stream.getReader();
  let onAbort: (() => void) | undefined;
  const aborted =
    signal &&
    new Promise<never>((_, reject) => {
      onAbort = () => reject(new BoundedReadError("aborted", "the read was aborted", total));
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    });
  aborted?.catch(() => undefined); // observed through the race below; never an unhandled rejection
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const waits: Promise<ReadResult>[] = [reader.read()];
      if (aborted) waits.push(aborted);
      if (idleTimeoutMs !== undefined) {
        waits.push(
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new BoundedReadError("idle", `nothing arrived for ${idleTimeoutMs} ms (after ${total} bytes)`, total)), idleTimeoutMs);
          }),
        );
      }
      let next: ReadResult;
      try {
        next = waits.length === 1 ? await waits[0]! : await Promise.race(waits);
      } finally {
        clearTimeout(timer);
      }
      if (next.done) return { chunks, total, truncated: false };
      total += next.value.byteLength;
      if (total > maxBytes) {
        if (truncate) {
          chunks.push(next.value);
          await reader.cancel().catch(() => undefined);
          return { chunks, total, truncated: true };
        }
        throw new BoundedReadError("too_large", `more than ${maxBytes} bytes`, total);
      }
      onChunk?.(next.value);
      chunks.push(next.value);
    }
  } catch (err) {
    await reader.cancel().catch(() => undefined);
    if (err instanceof BoundedReadError) throw err;
    throw new BoundedReadError("failed", `reading failed: ${messageOf(err)}`, total, { cause: err });
  } finally {
    if (onAbort) signal?.removeEventListener("abort", onAbort);
  }
}
