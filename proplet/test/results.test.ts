import { describe, expect, it } from "vitest";
import { LIMITS, encodeTopicMessage, newTraceparent } from "../../protocol/index.js";
import { resultBody } from "../lease/results.js";
import { PendingResults, type ResultBody } from "../lease/results.js";
import type { RunReport } from "../execute/runtime.js";

const report = (over: Partial<RunReport> = {}): RunReport => ({
  outcome: "completed",
  exitCode: 0,
  returnValues: null,
  stdout: new Uint8Array(),
  stderr: new Uint8Array(),
  stdoutTruncated: false,
  stderrTruncated: false,
  error: null,
  startedAt: new Date(),
  finishedAt: new Date(),
  ...over,
});
const run = (runId: string) => ({ taskId: "t", runId, traceparent: newTraceparent() });

describe("results", () => {
  it("two full 4 MiB outputs are cut to fit one MQTT payload, and flagged truncated", () => {
    const big = new Uint8Array(LIMITS.maxOutputBytes).fill(65);
    const body = resultBody("p1", run("r1"), report({ stdout: big, stderr: big }));
    const payload = encodeTopicMessage("tasks/result", body);
    expect(payload.byteLength).toBeLessThanOrEqual(LIMITS.mqttPayloadBytes);
    expect(body.stdoutTruncated && body.stderrTruncated).toBe(true);
    expect(Buffer.from(body.stdout, "base64").byteLength).toBeGreaterThan(2 * 1024 * 1024);
    // small outputs are untouched
    const small = resultBody("p1", run("r2"), report({ stdout: Buffer.from("hi") }));
    expect(small.stdout).toBe(Buffer.from("hi").toString("base64"));
    expect(small.stdoutTruncated).toBe(false);
  });

  it("the pending store is bounded by count and bytes, oldest evicted first, and backs off", () => {
    const store = new PendingResults({ maxCount: 3, maxBytes: 1000 }, { baseMs: 100, maxMs: 400 });
    const body = (id: string) => resultBody("p1", run(id), report()) as ResultBody;
    expect(store.add(body("a"), 100)).toEqual([]);
    expect(store.add(body("b"), 100)).toEqual([]);
    expect(store.add(body("c"), 100)).toEqual([]);
    expect(store.add(body("d"), 100)).toEqual(["a"]);
    // 300 + 900 bytes > 1000: the oldest go until it fits (b, c), d stays
    expect(store.add(body("e"), 900)).toEqual(["b", "c"]);
    expect(store.size).toBe(2);
    expect(store.remove("d")).toBe(true);
    // a result larger than the whole store is still kept (alone): better than losing the newest
    expect(store.add(body("f"), 5000)).toEqual(["e"]);
    expect(store.remove("f")).toBe(true);
    store.add(body("e"), 900);

    const now = 1_000_000;
    expect(store.due(now).map((b) => b.runId)).toEqual(["e"]);
    store.sent("e", now);
    expect(store.due(now + 99)).toEqual([]);
    expect(store.due(now + 99, true).map((b) => b.runId)).toEqual(["e"]);
    store.sent("e", now + 100);
    expect(store.due(now + 299)).toEqual([]); // 200 ms after the second send
    store.sent("e", now + 300);
    store.sent("e", now + 700);
    expect(store.due(now + 700 + 399)).toEqual([]); // capped at 400 ms
    expect(store.due(now + 700 + 400).map((b) => b.runId)).toEqual(["e"]);
    expect(store.remove("e")).toBe(true);
    expect(store.size).toBe(0);
  });
});
