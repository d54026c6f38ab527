import { describe, expect, it } from "vitest";
import { BoundedReadError, readBounded, readBoundedPrefix, readBoundedText } from "../bounded-read.js";

function streamOf(chunks: Uint8Array[], { hangAfter = false } = {}): { stream: ReadableStream<Uint8Array>; cancelled: () => boolean } {
  let i = 0;
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++]!);
      else if (!hangAfter) controller.close();
      else return new Promise(() => undefined);
    },
    cancel() {
      cancelled = true;
    },
  });
  return { stream, cancelled: () => cancelled };
}

const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill);

async function failure(p: Promise<unknown>): Promise<BoundedReadError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BoundedReadError);
  return err as BoundedReadError;
}

describe("readBounded", () => {
  it("returns the whole stream within the bound, each chunk seen once", async () => {
    const seen: number[] = [];
    const out = await readBounded(streamOf([bytes(3, 1), bytes(2, 2)]).stream, { maxBytes: 5, onChunk: (c) => seen.push(c.byteLength) });
    expect([...out]).toEqual([1, 1, 1, 2, 2]);
    expect(seen).toEqual([3, 2]);
    expect(await readBounded(null, { maxBytes: 1 })).toEqual(new Uint8Array());
  });

  it("refuses a stream past maxBytes and cancels it", async () => {
    const s = streamOf([bytes(3), bytes(3), bytes(3)]);
    const err = await failure(readBounded(s.stream, { maxBytes: 5 }));
    expect(err.reason).toBe("too_large");
    expect(err.bytesRead).toBe(6);
    expect(s.cancelled()).toBe(true);
  });

  it("fails with idle when the peer goes silent", async () => {
    const s = streamOf([bytes(2)], { hangAfter: true });
    const err = await failure(readBounded(s.stream, { maxBytes: 100, idleTimeoutMs: 30 }));
    expect(err.reason).toBe("idle");
    expect(err.message).toBe("nothing arrived for 30 ms (after 2 bytes)");
    expect(s.cancelled()).toBe(true);
  });

  it("fails with aborted when the signal aborts (already, or during the read)", async () => {
    const already = await failure(readBounded(streamOf([bytes(1)], { hangAfter: true }).stream, { maxBytes: 10, signal: AbortSignal.abort() }));
    expect(already.reason).toBe("aborted");
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 20);
    const later = await failure(readBounded(streamOf([bytes(1)], { hangAfter: true }).stream, { maxBytes: 10, signal: ctl.signal }));
    expect(later.reason).toBe("aborted");
  });

  it("wraps a stream error as failed, keeping the cause", async () => {
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        c.error(new Error("connection reset"));
      },
    });
    const err = await failure(readBounded(stream, { maxBytes: 10 }));
    expect(err.reason).toBe("failed");
    expect(err.message).toBe("reading failed: connection reset");
    expect((err.cause as Error).message).toBe("connection reset");
  });
});

describe("readBoundedPrefix / readBoundedText", () => {
  it("returns at most maxBytes and says whether there was more", async () => {
    const s = streamOf([bytes(3, 65), bytes(3, 66)]);
    const { bytes: out, truncated } = await readBoundedPrefix(s.stream, { maxBytes: 4 });
    expect(Buffer.from(out).toString()).toBe("AAAB");
    expect(truncated).toBe(true);
    expect(s.cancelled()).toBe(true);
    expect(await readBoundedText(new Response("hello"), 5)).toEqual({ text: "hello", truncated: false });
    expect(await readBoundedText(new Response("hello!"), 5)).toEqual({ text: "hello", truncated: true });
    expect(await readBoundedText(new Response(null), 5)).toEqual({ text: "", truncated: false });
  });
});
