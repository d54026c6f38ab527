import { describe, expect, it } from "vitest";
import {
  MessageDeduplicator,
  SchemaError,
  SizeLimitError,
  Topics,
  decodeTopicMessage,
  encodeTopicMessage,
  sha256Digest,
} from "../index.js";

const start = {
  kind: "task.start" as const,
  propletId: "p1",
  taskId: "t1",
  runId: "r1",
  attempt: 1,
  runtime: "wasi-p1" as const,
  artifact: { digest: sha256Digest("x"), location: { kind: "inline" as const, data: "eA==" } },
  entrypoint: { kind: "wasi" as const },
  args: ["a"],
  env: { A: "1" },
  stdin: "",
  limits: { timeoutMs: 1000, memoryBytes: 65536, outputBytes: 1024 },
  receiptNonce: "AAAAAAAAAAAAAAAAAAAAAA",
};

describe("codec", () => {
  it("round-trips a message and fills in the envelope", () => {
    const payload = encodeTopicMessage("tasks/start", start);
    const decoded = decodeTopicMessage("tasks/start", payload);
    expect(decoded).toMatchObject(start);
    expect(decoded.version).toBe(1);
    expect(decoded.messageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(decoded.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  it("rejects non-JSON, unknown fields, wrong kinds and bad digests with SchemaError", () => {
    const good = JSON.parse(encodeTopicMessage("tasks/start", start).toString());
    const bad = (v: unknown) => () => decodeTopicMessage("tasks/start", Buffer.from(typeof v === "string" ? v : JSON.stringify(v)));
    expect(bad("{not json")).toThrow(SchemaError);
    expect(bad({ ...good, extra: 1 })).toThrow(/extra: Unexpected property/);
    expect(bad({ ...good, kind: "task.stop" })).toThrow(SchemaError);
    expect(bad({ ...good, version: 2 })).toThrow(SchemaError);
    expect(bad({ ...good, artifact: { ...good.artifact, digest: "sha256:abc" } })).toThrow(SchemaError);
    expect(bad({ ...good, env: { "BAD-NAME": "x" } })).toThrow(SchemaError);
  });

  it("refuses oversized payloads before parsing them", () => {
    const big = Buffer.alloc(9 * 1024 * 1024, 0x20);
    expect(() => decodeTopicMessage("heartbeat", big)).toThrow(SizeLimitError);
  });

  it("refuses to encode an invalid outgoing message", () => {
    expect(() => encodeTopicMessage("tasks/start", { ...start, runtime: "nope" as "wasi-p1" })).toThrow(SchemaError);
  });
});

describe("topics", () => {
  const topics = new Topics("propeller/v1");
  it("builds and parses per-proplet topics", () => {
    const t = topics.proplet("edge-1", "tasks/result");
    expect(t).toBe("propeller/v1/proplets/edge-1/tasks/result");
    expect(topics.parse(t)).toEqual({ propletId: "edge-1", name: "tasks/result" });
    expect(topics.parse("propeller/v1/proplets/edge-1/unknown")).toBeNull();
    expect(topics.parse("other/v1/proplets/edge-1/tasks/result")).toBeNull();
  });
  it("refuses ids that would escape a topic level or act as wildcards", () => {
    for (const id of ["a/b", "+", "#", "", "a b"]) expect(() => topics.proplet(id, "announce")).toThrow();
    expect(() => new Topics("a/#")).toThrow();
  });
});

describe("deduplicator", () => {
  it("reports each id once and forgets the oldest past capacity", () => {
    const d = new MessageDeduplicator(2);
    expect(d.firstSeen("a")).toBe(true);
    expect(d.firstSeen("a")).toBe(false);
    d.firstSeen("b");
    d.firstSeen("c");
    expect(d.firstSeen("a")).toBe(true);
  });
});
