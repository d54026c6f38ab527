import { describe, expect, it } from "vitest";
import { BoundedMap, BoundedSet } from "../bounded-map.js";

describe("BoundedMap", () => {
  it("keeps at most maxEntries, the oldest insert going first", () => {
    const m = new BoundedMap<string, number>({ maxEntries: 2 });
    m.set("a", 1);
    m.set("b", 2);
    expect(m.get("a")).toBe(1); // a hit does not renew without lru
    expect(m.set("c", 3)).toEqual(["a"]);
    expect([...m.keys()]).toEqual(["b", "c"]);
  });

  it("with lru, a hit makes the entry the newest", () => {
    const evicted: string[] = [];
    const m = new BoundedMap<string, number>({ maxEntries: 2, lru: true, onEvict: (k) => evicted.push(k) });
    m.set("a", 1);
    m.set("b", 2);
    m.get("a");
    m.set("c", 3);
    expect([...m.keys()]).toEqual(["a", "c"]);
    expect(evicted).toEqual(["b"]);
    expect(m.peek("a")).toBe(1);
  });

  it("set renews an existing key's position and age", () => {
    let now = 0;
    const m = new BoundedMap<string, number>({ maxEntries: 2, maxAgeMs: 100, now: () => now });
    m.set("a", 1);
    m.set("b", 2);
    now = 50;
    m.set("a", 10);
    now = 60;
    m.set("c", 3);
    expect([...m.entries()]).toEqual([
      ["a", 10],
      ["c", 3],
    ]);
    now = 149;
    expect(m.get("a")).toBe(10);
    now = 150;
    expect(m.get("a")).toBeUndefined();
    expect(m.has("c")).toBe(true);
    expect(m.size).toBe(1);
  });

  it("an entry's own expiresAt ends it before maxAgeMs", () => {
    let now = 0;
    const m = new BoundedMap<string, string>({ maxEntries: 4, maxAgeMs: 1000, now: () => now });
    m.set("t", "token", { expiresAt: 10 });
    now = 9;
    expect(m.get("t")).toBe("token");
    now = 10;
    expect(m.get("t")).toBeUndefined();
    expect(m.size).toBe(0);
  });

  it("prune drops every expired entry", () => {
    let now = 0;
    const m = new BoundedMap<number, number>({ maxEntries: 10, maxAgeMs: 10, now: () => now });
    for (let i = 0; i < 5; i++) m.set(i, i);
    now = 5;
    m.set(9, 9);
    now = 10;
    m.prune();
    expect(m.size).toBe(1);
    expect([...m.values()]).toEqual([9]);
  });

  it("bounds the total weight, never evicting the entry just set", () => {
    const m = new BoundedMap<string, Uint8Array>({ maxEntries: 100, maxWeight: 10, weigh: (v) => v.byteLength });
    m.set("a", new Uint8Array(4));
    m.set("b", new Uint8Array(4));
    expect(m.totalWeight).toBe(8);
    expect(m.set("c", new Uint8Array(4))).toEqual(["a"]);
    expect(m.totalWeight).toBe(8);
    expect(m.set("huge", new Uint8Array(20))).toEqual(["b", "c"]);
    expect([...m.keys()]).toEqual(["huge"]);
    expect(m.totalWeight).toBe(20);
    m.delete("huge");
    expect(m.totalWeight).toBe(0);
  });

  it("refuses bounds that are not bounds", () => {
    expect(() => new BoundedMap({ maxEntries: 0 })).toThrow(RangeError);
    expect(() => new BoundedMap({ maxEntries: 1.5 })).toThrow(RangeError);
    expect(() => new BoundedMap({ maxEntries: 1, maxAgeMs: 0 })).toThrow(RangeError);
    expect(() => new BoundedMap({ maxEntries: 1, maxWeight: 5 })).toThrow(RangeError);
  });

  it("stays within its bound under many inserts", () => {
    const m = new BoundedMap<number, number>({ maxEntries: 1000 });
    for (let i = 0; i < 100_000; i++) m.set(i, i);
    expect(m.size).toBe(1000);
    expect(m.has(98_999)).toBe(false);
    expect(m.has(99_000)).toBe(true);
  });
});

describe("BoundedSet", () => {
  it("add renews, addIfAbsent does not; the oldest is forgotten past the bound", () => {
    const s = new BoundedSet<string>({ maxEntries: 2 });
    expect(s.add("a")).toBe(true);
    expect(s.add("b")).toBe(true);
    expect(s.add("a")).toBe(false); // a is now newest
    s.add("c");
    expect(s.has("a")).toBe(true);
    expect(s.has("b")).toBe(false);

    const d = new BoundedSet<string>({ maxEntries: 2 });
    d.addIfAbsent("a");
    d.addIfAbsent("b");
    expect(d.addIfAbsent("a")).toBe(false); // a stays oldest
    d.addIfAbsent("c");
    expect(d.has("a")).toBe(false);
    expect(d.has("b")).toBe(true);
    expect(d.size).toBe(2);
  });
});
