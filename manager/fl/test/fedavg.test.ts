import { describe, expect, it } from "vitest";
import { fedAvg } from "../fedavg.js";
import { invitedFor } from "../spec.js";
import { judgeRun } from "../judge.js";
import { modelDigest } from "../../../protocol/index.js";
import type { RunRecord } from "../../tasks/model.js";
import { createHash } from "node:crypto";

describe("fedAvg", () => {
  it("weights by samples, in float64", () => {
    const out = fedAvg([
      { propletId: "b", samples: 3, weights: [1, 2] },
      { propletId: "a", samples: 1, weights: [5, -2] },
    ]);
    expect(out.samples).toBe(4);
    expect(out.weights[0]).toBeCloseTo((3 * 1 + 1 * 5) / 4, 15);
    expect(out.weights[1]).toBeCloseTo((3 * 2 - 2) / 4, 15);
  });

  it("is deterministic whatever order the updates arrive in: the same bits, the same digest", () => {
    const rnd = (seed: number) => Array.from({ length: 64 }, (_, i) => Math.sin(seed * 1000 + i) * 1e3 + 1e-9 * i);
    const updates = ["p3", "p1", "p2", "p10"].map((id, i) => ({ propletId: id, samples: 7 + 13 * i, weights: rnd(i) }));
    const a = fedAvg(updates);
    const b = fedAvg([...updates].reverse());
    expect(b.weights).toEqual(a.weights);
    expect(modelDigest({ shape: [64], weights: b.weights })).toBe(modelDigest({ shape: [64], weights: a.weights }));
  });

  it("refuses no updates, mismatched sizes and non-positive samples", () => {
    expect(() => fedAvg([])).toThrow(RangeError);
    expect(() => fedAvg([{ propletId: "a", samples: 1, weights: [1] }, { propletId: "b", samples: 1, weights: [1, 2] }])).toThrow(/weights/);
    expect(() => fedAvg([{ propletId: "a", samples: 0, weights: [1] }])).toThrow(/sample/);
  });
});

describe("invitedFor", () => {
  it("invites everyone by default, a rotating window of ceil(fraction·n) (at least k) otherwise", () => {
    expect(invitedFor(["c", "a", "b"], 1, 2, 1)).toEqual(["a", "b", "c"]);
    const ids = ["a", "b", "c", "d", "e"];
    expect(invitedFor(ids, 0.4, 1, 1)).toEqual(["a", "b"]);
    expect(invitedFor(ids, 0.4, 1, 2)).toEqual(["c", "d"]);
    expect(invitedFor(ids, 0.4, 1, 3)).toEqual(["a", "e"]);
    expect(invitedFor(ids, 0.2, 3, 1)).toHaveLength(3);
  });
});

describe("judgeRun", () => {
  const base = modelDigest({ shape: [2], weights: [0, 0] });
  const expect0 = { round: 2, baseModel: base, shape: [2], attested: false, propletId: "p1" };
  const run = (stdout: string, over: Partial<RunRecord> = {}, receiptDigest?: string): RunRecord => {
    const digest = receiptDigest ?? `sha256:${createHash("sha256").update(stdout).digest("hex")}`;
    const payload = Buffer.from(JSON.stringify({ output: { stdout: digest } })).toString("base64url");
    return {
      id: "r1", taskId: "t1", attempt: 1, state: "completed", propletId: "p1", deliveries: 1, receiptNonce: "n",
      createdAt: new Date(), dispatchedAt: null, lastDeliveryAt: null, acceptedAt: null, startedAt: null, finishedAt: null,
      result: { exitCode: 0, returnValues: null, stdout: Buffer.from(stdout).toString("base64"), stderr: "", stdoutTruncated: false, stderrTruncated: false, error: null },
      receipt: `e30.${payload}.sig`,
      receiptCheck: { ok: true, attested: false, reason: "", checks: [] },
      notBefore: null, tryNumber: 1, groupId: null, pinnedProplet: "p1",
      ...over,
    };
  };
  const good = JSON.stringify({ format: "propeller-fl-update/1", round: 2, baseModel: base, samples: 10, shape: [2], weights: [0.5, -1] });

  it("accepts a well-formed update whose receipt names its bytes", () => {
    const v = judgeRun(run(good), expect0);
    expect(v.state).toBe("accepted");
  });
  it("is pending while the run is active, missing when it failed", () => {
    expect(judgeRun(null, expect0).state).toBe("pending");
    expect(judgeRun(run(good, { state: "running" }), expect0).state).toBe("pending");
    const failed = judgeRun(run("", { state: "failed", result: { exitCode: null, returnValues: null, stdout: "", stderr: "", stdoutTruncated: false, stderrTruncated: false, error: { code: "proplet_lost", message: "gone" } } }), expect0);
    expect(failed).toMatchObject({ state: "missing", reason: expect.stringMatching(/^run_failed: proplet_lost/) });
  });
  it("rejects with a reason: receipt mismatch, unattested, non-participant, replay, shape, NaN, samples, oversize", () => {
    const reason = (r: RunRecord, e = expect0) => {
      const v = judgeRun(r, e);
      return v.state === "rejected" ? v.reason.split(":")[0] : v.state;
    };
    expect(reason(run(good, {}, `sha256:${"0".repeat(64)}`))).toBe("receipt_mismatch");
    expect(reason(run(good, { receiptCheck: { ok: false, attested: false, reason: "bad sig", checks: [] } }))).toBe("receipt_invalid");
    expect(reason(run(good), { ...expect0, attested: true })).toBe("receipt_unattested");
    expect(reason(run(good, { propletId: "p9" }))).toBe("update_non_participant");
    expect(reason(run(good.replace('"round":2', '"round":1')))).toBe("update_replayed");
    expect(reason(run(good.replace("[0.5,-1]", "[0.5,-1,3]")))).toBe("update_wrong_shape");
    expect(reason(run(good.replace("[0.5,-1]", "[NaN,-1]")))).toBe("update_not_finite");
    expect(reason(run(good.replace("[0.5,-1]", "[1e999,-1]")))).toBe("update_not_finite");
    expect(reason(run(good.replace('"samples":10', '"samples":0')))).toBe("update_bad_samples");
    expect(reason(run(good, { result: { ...run(good).result!, stdoutTruncated: true } }))).toBe("update_oversized");
    expect(reason(run(" ".repeat(1024 * 1024 + 1)))).toBe("update_oversized");
    expect(reason(run(good.replace(base, `sha256:${"1".repeat(64)}`)))).toBe("update_wrong_base");
  });
});
