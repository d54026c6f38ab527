import { describe, expect, it } from "vitest";
import {
  IllegalTransitionError,
  RUN_STATES,
  TASK_RULES,
  assertRunTransition,
  assertTaskTransition,
  canTransitionRun,
  taskStateForRun,
} from "../tasks/state.js";
import { summarizeRefusals, choosePlacement, type Candidate } from "../scheduler/choose.js";
import type { PropletRecord, TaskSpec } from "../tasks/model.js";
import { checkArtifact, checkArtifactUrl } from "../delivery/check-artifact.js";
import { sha256Digest } from "../../protocol/index.js";
import { resolveConfig } from "../config.js";
import { ConfigError } from "../errors.js";
import { messageOf } from "../../lib/errors.js";

describe("run state machine", () => {
  it("allows the lease path and nothing out of finished states", () => {
    expect(canTransitionRun("queued", "scheduled")).toBe(true);
    expect(canTransitionRun("scheduled", "running")).toBe(true);
    expect(canTransitionRun("running", "completed")).toBe(true);
    expect(canTransitionRun("scheduled", "completed")).toBe(true); // result overtakes a lost accept
    for (const from of ["completed", "failed", "stopped"] as const) {
      for (const to of RUN_STATES) expect(canTransitionRun(from, to)).toBe(false);
    }
    expect(canTransitionRun("running", "queued")).toBe(false); // a lost run is failed, a new one queued
    expect(canTransitionRun("queued", "running")).toBe(false);
  });

  it("throws a typed 409-class error with a stable code", () => {
    const err = (() => {
      try {
        assertRunTransition("r1", "completed", "running");
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(IllegalTransitionError);
    expect((err as IllegalTransitionError).code).toBe("illegal_transition");
    expect(messageOf(err)).toBe("run r1 cannot go from completed to running");
    expect(() => assertTaskTransition("t1", "completed", "running")).toThrow(IllegalTransitionError);
    expect(() => assertTaskTransition("t1", "completed", "pending")).not.toThrow();
  });

  it("mirrors the latest run in the task state and says what callers may do", () => {
    expect(taskStateForRun(null)).toBe("pending");
    expect(taskStateForRun("queued")).toBe("pending");
    expect(taskStateForRun("running")).toBe("running");
    expect(TASK_RULES.canStart(null)).toBe(true);
    expect(TASK_RULES.canStart("queued")).toBe(false);
    expect(TASK_RULES.canStart("failed")).toBe(true);
    expect(TASK_RULES.canStop("running")).toBe(true);
    expect(TASK_RULES.canStop("completed")).toBe(false);
    expect(TASK_RULES.canUpdate("running")).toBe(false);
    expect(TASK_RULES.canUpdate("completed")).toBe(true);
  });
});

const spec = (over: Partial<TaskSpec> = {}): TaskSpec => ({
  runtime: "wasi-p1",
  artifact: { digest: sha256Digest("x"), size: 1, location: "inline" },
  entrypoint: { kind: "wasi" },
  args: [],
  env: {},
  stdin: "",
  limits: { timeoutMs: 1000, memoryBytes: 65536, outputBytes: 1024 },
  target: null,
  requirements: { tags: [], tee: null },
  onPropletLoss: "fail",
  ...over,
});

const proplet = (id: string, load: number, over: Partial<PropletRecord["capabilities"]> = {}, alive = true): Candidate => ({
  load,
  proplet: {
    id,
    name: id,
    alive,
    identityKey: null,
    heartbeatIntervalMs: null,
    lastSeenAt: new Date(),
    connectedAt: new Date(),
    goneReason: null,
    capabilities: { runtimes: ["wasi-p1"], artifactSources: ["inline"], memoryBytes: 1 << 30, maxConcurrency: 2, tee: null, tags: [], ...over },
  },
});

describe("placement", () => {
  it("picks the least loaded fitting proplet relative to capacity", () => {
    const c = [proplet("a", 1), proplet("b", 0), proplet("c", 1, { maxConcurrency: 10 })];
    expect(choosePlacement(spec(), c)).toEqual({ propletId: "b" });
    c[1]!.load = 2; // b full
    expect(choosePlacement(spec(), c)).toEqual({ propletId: "c" }); // 1/10 < 1/2
  });

  it("filters on runtime, tags, TEE, memory and artifact source, and says why nothing fits", () => {
    const c = [proplet("a", 0, { tags: ["gpu"] }), proplet("b", 0, { tee: { type: "snp" } })];
    expect(choosePlacement(spec({ requirements: { tags: ["gpu"], tee: null } }), c)).toEqual({ propletId: "a" });
    expect(choosePlacement(spec({ requirements: { tags: [], tee: "snp" } }), c)).toEqual({ propletId: "b" });
    expect(choosePlacement(spec({ requirements: { tags: ["tpu"], tee: null } }), c)).toEqual({
      reason: "no live proplet offers runtime wasi-p1 with tags [tpu] with 65536 bytes of memory",
      refusals: [
        { propletId: "a", check: "tags", detail: "lacks tags [tpu]" },
        { propletId: "b", check: "tags", detail: "lacks tags [tpu]" },
      ],
    });
    expect(choosePlacement(spec({ runtime: "component" }), c)).toMatchObject({ reason: expect.stringMatching(/runtime component/) });
    expect(choosePlacement(spec({ limits: { timeoutMs: 1, memoryBytes: 2 ** 31, outputBytes: 0 } }), c)).toMatchObject({ reason: expect.stringMatching(/memory/) });
    expect(choosePlacement(spec({ artifact: { digest: sha256Digest("x"), size: null, location: "http", url: "https://x/y" } }), c)).toMatchObject({ reason: expect.any(String) });
    expect(choosePlacement(spec(), [proplet("a", 2), proplet("b", 2)])).toEqual({
      reason: "all 2 matching proplet(s) are busy",
      refusals: [
        { propletId: "a", check: "slots", detail: "is busy (2/2 runs)" },
        { propletId: "b", check: "slots", detail: "is busy (2/2 runs)" },
      ],
    });
    expect(choosePlacement(spec(), [proplet("a", 0, {}, false)])).toMatchObject({ reason: expect.stringMatching(/no proplet is live/) });
  });

  it("honours an explicit target, even over a less loaded proplet", () => {
    const c = [proplet("a", 1), proplet("b", 0)];
    expect(choosePlacement(spec({ target: "a" }), c)).toEqual({ propletId: "a" });
    expect(choosePlacement(spec({ target: "zz" }), c)).toMatchObject({ reason: "target proplet zz is not live" });
    c[0]!.load = 2;
    expect(choosePlacement(spec({ target: "a" }), c)).toEqual({
      reason: "target proplet a is busy (2/2 runs)",
      refusals: [{ propletId: "a", check: "slots", detail: "is busy (2/2 runs)" }],
    });
  });

  it("names the check that refused each proplet and counts them per check", () => {
    const c = [
      proplet("a", 0, { runtimes: ["component"] }),
      proplet("b", 2, { tags: ["gpu"] }),
      proplet("c", 2),
      proplet("d", 0, { memoryBytes: 1024 }),
      proplet("e", 0, {}, false),
    ];
    const placement = choosePlacement(spec(), c);
    expect(placement).toMatchObject({ reason: "all 2 matching proplet(s) are busy" });
    const refusals = "refusals" in placement ? placement.refusals : [];
    expect(refusals.map((r) => [r.propletId, r.check])).toEqual([["a", "runtime"], ["d", "memory"], ["b", "slots"], ["c", "slots"]]);
    expect(summarizeRefusals(refusals)).toBe("runtime: 1, memory: 1, slots: 2");
    expect(choosePlacement(spec({ requirements: { tags: [], tee: "snp" } }), c.slice(0, 2))).toMatchObject({ refusals: [{ check: "runtime" }, { check: "tee", detail: "has no snp TEE" }] });
  });
});

describe("artifact checks", () => {
  it("accepts matching inline bytes and refuses a digest mismatch or non-canonical base64", () => {
    const data = Buffer.from("wasm bytes");
    expect(checkArtifact({ digest: sha256Digest(data), inline: data.toString("base64") }).spec).toEqual({ digest: sha256Digest(data), size: 10, location: "inline" });
    expect(() => checkArtifact({ digest: sha256Digest("other"), inline: data.toString("base64") })).toThrow(expect.objectContaining({ code: "digest_mismatch" }));
    expect(() => checkArtifact({ digest: sha256Digest(data), inline: "d2FzbSBieXRlcw=x" })).toThrow(expect.objectContaining({ code: "invalid_base64" }));
  });

  it("accepts http(s) URLs only, without credentials", () => {
    expect(checkArtifactUrl("https://example.com/a.wasm")).toBe("https://example.com/a.wasm");
    for (const bad of ["ftp://example.com/a", "file:///etc/passwd", "https://user:pw@example.com/a", "not a url", `https://e.com/${"a".repeat(2100)}`]) {
      expect(() => checkArtifactUrl(bad)).toThrow(expect.objectContaining({ code: "invalid_url" }));
    }
  });
});

describe("config", () => {
  it("fills in the contract's defaults", () => {
    const c = resolveConfig({ databaseUrl: "pglite://memory", mqtt: { url: "mqtt://127.0.0.1:1883" } });
    expect(c).toMatchObject({ topicRoot: "propeller/v1", http: { host: "127.0.0.1", port: 7070 }, heartbeatTimeoutMs: 15000, ackTimeoutMs: 5000, maxDeliveries: 5, reconcileGraceMs: 10000 });
  });

  it("names every bad value at once, without echoing a password", () => {
    let err: unknown;
    try {
      resolveConfig({ databaseUrl: "mysql://u:secret@h/db", mqtt: { url: "http://x" }, http: { port: 70000 }, ackTimeoutMs: -1, maxDeliveries: 0, topicRoot: "a/#" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const message = messageOf(err);
    for (const key of ["databaseUrl", "mqtt.url", "http.port", "ackTimeoutMs", "maxDeliveries", "topicRoot"]) expect(message).toContain(`${key}:`);
    expect(message).not.toContain("secret");
  });
});
