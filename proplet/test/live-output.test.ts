import { describe, expect, it } from "vitest";
import { LiveOutput, MESSAGE_DATA_BYTES } from "../lease/live-output.js";

describe("a run's live output", () => {
  it("joins close writes of one stream, keeps streams apart and in order, and cuts at the message bound", async () => {
    const sent: Array<{ seq: number; stream: string; data: Buffer }> = [];
    const live = new LiveOutput({ send: async (seq, stream, data) => void sent.push({ seq, stream, data }), onError: (e) => { throw e; } });
    live.write("stdout", Buffer.from("a"));
    live.write("stdout", Buffer.from("b"));
    live.write("stderr", Buffer.from("E"));
    live.write("stdout", new Uint8Array(MESSAGE_DATA_BYTES + 10).fill(0x78));
    await live.end();
    expect(sent.map((s) => [s.seq, s.stream, s.data.byteLength])).toEqual([
      [1, "stdout", 2],
      [2, "stderr", 1],
      [3, "stdout", MESSAGE_DATA_BYTES],
      [4, "stdout", 10],
    ]);
    expect(Buffer.concat(sent.filter((s) => s.stream === "stdout").map((s) => s.data)).byteLength).toBe(2 + MESSAGE_DATA_BYTES + 10);
  });

  it("a failed send is reported and the next chunks still go, in order", async () => {
    const sent: number[] = [];
    const errors: unknown[] = [];
    const live = new LiveOutput({
      send: async (seq) => {
        if (seq === 1) throw new Error("broker gone");
        sent.push(seq);
      },
      onError: (e) => errors.push(e),
    });
    live.write("stdout", Buffer.from("x"));
    await live.end();
    live.write("stdout", Buffer.from("y"));
    await live.end();
    expect(errors).toHaveLength(1);
    expect(sent).toEqual([2]);
  });
});
