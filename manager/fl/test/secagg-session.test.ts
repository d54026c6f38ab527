/**
 * One round's secure aggregation with the manager's session and real proplet participants
 * (proplet/secagg/client.ts), every message through the protocol codec; only the broker is left
 * out (test/e2e/fl-secagg.test.ts has it).
 */
import pino from "pino";
import { describe, expect, it } from "vitest";
import { FL_UPDATE_FORMAT, decodeTopicMessage, encodeTopicMessage, type SecAggReply } from "../../../protocol/index.js";
import { fractionBitsFor } from "../../../protocol/secagg/index.js";
import { HeldUpdates } from "../../../proplet/secagg/held.js";
import { SecAggClient } from "../../../proplet/secagg/client.js";
import { SecAggSession } from "../secagg-session.js";

const BASE = `sha256:${"b".repeat(64)}`;
const LENGTH = 5;
const log = pino({ level: "silent" });

function updateBytes(weights: number[], samples: number, round = 1): Uint8Array {
  return Buffer.from(JSON.stringify({ format: FL_UPDATE_FORMAT, round, baseModel: BASE, samples, shape: [weights.length], weights }));
}

function setup(updates: Record<string, Uint8Array>, options: { threshold?: number; silentAfter?: Record<string, string> } = {}) {
  const ids = Object.keys(updates).sort();
  const threshold = options.threshold ?? ids.length;
  const sessionId = "exp/r1/nonce";
  let session!: SecAggSession;
  const clients = new Map<string, SecAggClient>();
  const silent = new Set<string>();
  for (const id of ids) {
    const held = new HeldUpdates();
    held.hold(`run-${id}`, updates[id]!);
    const seen = new Set<string>();
    clients.set(
      id,
      new SecAggClient({
        propletId: id,
        held,
        log,
        duplicate: (m) => (seen.has(m) ? true : (seen.add(m), false)),
        send: async (body) => {
          const msg = decodeTopicMessage("secagg/reply", encodeTopicMessage("secagg/reply", body));
          setImmediate(() => session.onReply(id, msg));
        },
        afterReply: (kind) => {
          if (options.silentAfter?.[id] === kind) silent.add(id);
        },
      }),
    );
  }
  const refused: string[] = [];
  session = new SecAggSession(
    {
      params: { roundId: sessionId, threshold, length: LENGTH, clip: 16, maxWeight: 1000, fractionBits: fractionBitsFor(ids.length, 1000, 16) },
      members: ids.map((id) => ({ propletId: id, runId: `run-${id}` })),
      expect: { round: 1, baseModel: BASE, shape: [LENGTH] },
      stepTimeoutMs: 2000,
    },
    async (propletId, step) => {
      if (silent.has(propletId)) return; // gone: it never hears the request
      const m = decodeTopicMessage("secagg/request", encodeTopicMessage("secagg/request", { kind: "secagg.request", propletId, session: sessionId, step }));
      setImmediate(() => void clients.get(propletId)!.onRequest(m));
    },
    () => new Date(),
    (from, reason) => refused.push(`${from}: ${reason}`),
  );
  return { session, refused, sessionId };
}

const W = {
  p1: [0.5, -1.25, 3, 0, 7.75],
  p2: [-2, 0.125, 1, 4, -0.5],
  p3: [1, 1, 1, 1, 1],
};
const N = { p1: 10, p2: 30, p3: 60 };

function fedAvg(ids: Array<keyof typeof W>): number[] {
  const total = ids.reduce((a, id) => a + N[id], 0);
  return W.p1.map((_, j) => ids.reduce((a, id) => a + N[id] * W[id][j]!, 0) / total);
}

describe("secure aggregation session (manager) with proplet participants", () => {
  it("all three: the mean is FedAvg within the fixed-point bound, the total weight exact", async () => {
    const { session } = setup({ p1: updateBytes(W.p1, N.p1), p2: updateBytes(W.p2, N.p2), p3: updateBytes(W.p3, N.p3) });
    const out = await session.run();
    if (!out.ok) expect.fail(out.reason);
    expect(out.result.survivors).toEqual(["p1", "p2", "p3"]);
    expect(out.result.weight).toBe(100);
    const f = session.input.params.fractionBits;
    const expected = fedAvg(["p1", "p2", "p3"]);
    for (let j = 0; j < LENGTH; j++) expect(Math.abs(out.result.mean[j]! - expected[j]!)).toBeLessThanOrEqual((3 * 2 ** -(f + 1)) / 100);
    expect(session.refusals).toEqual([]);
  });

  it("one leaves after sharing keys: its masks are rebuilt from the others' shares", async () => {
    const { session } = setup({ p1: updateBytes(W.p1, N.p1), p2: updateBytes(W.p2, N.p2), p3: updateBytes(W.p3, N.p3) }, { threshold: 2, silentAfter: { p3: "share" } });
    const out = await session.run();
    if (!out.ok) expect.fail(out.reason);
    expect(out.result.survivors).toEqual(["p1", "p2"]);
    expect(out.result.weight).toBe(40);
    const expected = fedAvg(["p1", "p2"]);
    for (let j = 0; j < LENGTH; j++) expect(out.result.mean[j]!).toBeCloseTo(expected[j]!, 3);
    expect([...session.departures.values()]).toEqual([{ propletId: "p3", state: "missing", reason: "no answer to the mask step within 2000 ms" }]);
  });

  it("a participant whose held update is not this round's refuses to advertise and is left out", async () => {
    const { session } = setup({ p1: updateBytes(W.p1, N.p1), p2: updateBytes(W.p2, N.p2), p3: updateBytes(W.p3, N.p3, 0 + 2) }, { threshold: 2 });
    const out = await session.run();
    if (!out.ok) expect.fail(out.reason);
    expect(out.result.survivors).toEqual(["p1", "p2"]);
    expect(session.departures.get("p3")).toMatchObject({ state: "rejected", reason: expect.stringMatching(/^refused the advertise step: update_replayed: the update is for round 2, this is round 1/) });
  });

  it("fewer than the threshold left: the session fails with the reason", async () => {
    const { session } = setup({ p1: updateBytes(W.p1, N.p1), p2: updateBytes(W.p2, N.p2), p3: updateBytes(W.p3, N.p3) }, { threshold: 3, silentAfter: { p3: "advertise" } });
    const out = await session.run();
    expect(out).toMatchObject({ ok: false, reason: expect.stringMatching(/only 2 participants shared keys.*needs 3/) });
  });

  it("refuses, and records, a message claiming another sender, a non-participant, a repeat and one out of step", async () => {
    const { session, refused, sessionId } = setup({ p1: updateBytes(W.p1, N.p1), p2: updateBytes(W.p2, N.p2) });
    const running = session.run();
    const reply = (propletId: string, step: SecAggReply["step"]) => decodeTopicMessage("secagg/reply", encodeTopicMessage("secagg/reply", { kind: "secagg.reply", propletId, session: sessionId, step }));
    const advertise = { round: sessionId, from: "p2", channelKey: "A".repeat(43), maskKey: "B".repeat(43) };
    session.onReply("p1", reply("p1", { kind: "advertise", advertise }));
    session.onReply("p7", reply("p7", { kind: "advertise", advertise: { ...advertise, from: "p7" } }));
    const once = reply("p1", { kind: "unmask", unmask: { round: sessionId, from: "p1", selfMaskShares: [], maskKeyShares: [] } });
    session.onReply("p1", once);
    session.onReply("p1", once);
    session.onMalformed("p2", "payload is not JSON");
    const out = await running;
    if (!out.ok) expect.fail(out.reason);
    expect(session.refusals.map((r) => `${r.from}: ${r.reason}`)).toEqual([
      "p1: its advertise message claims to be from p2",
      "p7: p7 is not a participant of secure aggregation session exp/r1/nonce",
      "p1: a unmask message came during the advertise step (late, out of order, or replayed)",
      expect.stringMatching(/^p1: message .* was already received: a repeat or a replay$/),
      "p2: malformed secure-aggregation message: payload is not JSON",
    ]);
    expect(refused).toHaveLength(5);
  });
});
