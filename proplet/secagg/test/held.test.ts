import { describe, expect, it } from "vitest";
import { HeldUpdates } from "../held.js";

const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill);

describe("held updates (secure aggregation)", () => {
  it("keeps an update until it is dropped, and zeroes it then", () => {
    const held = new HeldUpdates();
    const update = bytes(10, 7);
    expect(held.hold("r1", update).held).toBe(true);
    const kept = held.peek("r1")!;
    expect([...kept]).toEqual([...update]);
    held.drop("r1");
    expect(held.has("r1")).toBe(false);
    expect([...kept]).toEqual(new Array(10).fill(0));
  });

  it("is bounded in count and bytes: the oldest goes first; one larger than the store is refused", () => {
    const held = new HeldUpdates({ maxCount: 2, maxBytes: 100, maxAgeMs: 60_000 });
    held.hold("a", bytes(40));
    held.hold("b", bytes(40));
    expect(held.hold("c", bytes(10)).evicted).toEqual(["a"]);
    expect(held.hold("d", bytes(80)).evicted).toEqual(["b"]); // count bound
    expect(held.hold("f", bytes(60)).evicted).toEqual(["c", "d"]); // byte bound
    expect(held.size).toBe(1);
    expect(held.hold("e", bytes(101))).toEqual({ held: false, evicted: [] });
    expect(held.has("f")).toBe(true);
  });

  it("forgets an update nobody asked for within its age bound", () => {
    let now = 0;
    const held = new HeldUpdates({ maxCount: 8, maxBytes: 1000, maxAgeMs: 1000 }, () => now);
    held.hold("old", bytes(1));
    now = 600;
    held.hold("young", bytes(1));
    now = 1001;
    expect(held.has("old")).toBe(false);
    expect(held.has("young")).toBe(true);
    now = 1601;
    expect(held.peek("young")).toBeUndefined();
  });
});
