/**
 * Secure aggregation in federated rounds, end to end (docs/fl.md "Secure aggregation"): the C
 * training client on real proplets, real Mosquitto and PostgreSQL. Each proplet holds its update
 * and the manager, as the SecAgg aggregator, learns only the sum: the model of every round equals
 * the plain FedAvg of the updates the proplets held (seen here through the proplets' test hook)
 * within the quantization bound; accuracy matches a plain FedAvg experiment; no plaintext update is
 * in the manager's database or logs; the masked inputs the manager received are uncorrelated with
 * the plaintext. A participant that leaves after sharing keys is recovered from the shares; bad
 * secure-aggregation messages are refused and recorded in the round.
 */
import { createHash } from "node:crypto";
import pg from "pg";
import { afterEach, expect, it } from "vitest";
import { accuracy } from "../../cli/fl-data.js";
import { MqttConnection } from "../../mqtt/index.js";
import { LIMITS, Topics, decodeTopicMessage, encodeTopicMessage, type SecAggReply, type SecAggRequest } from "../../protocol/index.js";
import { decodeLanes, quantize } from "../../protocol/secagg/index.js";
import type { FlExperiment } from "../../protocol/api/index.js";
import { describeWhen } from "../../testing/describe-when.js";
import { waitFor } from "../../testing/net.js";
import { TEST_MQTT_URL } from "../../testing/mosquitto.js";
import { DATASET_AVAILABLE, experimentBody, flSetup, type FlSetup } from "./fl-support.js";

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

const TIMEOUT_MS = 240_000;

interface HeldUpdate {
  propletId: string;
  bytes: Buffer;
  samples: number;
  weights: number[];
}

/** What each proplet held, by run id (the proplets' own plaintext: the manager never has it). */
function heldCapture(): { held: Map<string, HeldUpdate>; hooks: (i: number) => { onHeld: (runId: string, bytes: Uint8Array) => void } } {
  const held = new Map<string, HeldUpdate>();
  return {
    held,
    hooks: (i) => ({
      onHeld: (runId, bytes) => {
        const u = JSON.parse(Buffer.from(bytes).toString("utf8")) as { samples: number; weights: number[] };
        held.set(runId, { propletId: `p${i}`, bytes: Buffer.from(bytes), samples: u.samples, weights: u.weights });
      },
    }),
  };
}

/** Every secure-aggregation message on the broker under the test's topic root, as the manager sees them. */
async function sniff(s: FlSetup): Promise<{ replies: Array<{ propletId: string; msg: SecAggReply; raw: Buffer }>; requests: Array<{ propletId: string; msg: SecAggRequest }>; conn: MqttConnection; topics: Topics }> {
  const topics = new Topics(s.managerConfig.topicRoot);
  const conn = await MqttConnection.connect({ url: TEST_MQTT_URL, clientId: `sniffer-${process.pid}-${Date.now()}` });
  cleanups.push(() => conn.close());
  const replies: Array<{ propletId: string; msg: SecAggReply; raw: Buffer }> = [];
  const requests: Array<{ propletId: string; msg: SecAggRequest }> = [];
  await conn.subscribe(topics.allProplets("secagg/reply"), (topic, payload) => {
    try {
      replies.push({ propletId: topics.parse(topic)!.propletId, msg: decodeTopicMessage("secagg/reply", payload), raw: Buffer.from(payload) });
    } catch {
      // the test's own malformed injections
    }
  });
  await conn.subscribe(topics.allProplets("secagg/request"), (topic, payload) => {
    requests.push({ propletId: topics.parse(topic)!.propletId, msg: decodeTopicMessage("secagg/request", payload) });
  });
  return { replies, requests, conn, topics };
}

/** FedAvg in plain JS: Σ n_i·w_i / Σ n_i over the given updates. */
function plainFedAvg(updates: HeldUpdate[]): number[] {
  const total = updates.reduce((a, u) => a + u.samples, 0);
  return updates[0]!.weights.map((_, j) => updates.reduce((a, u) => a + u.samples * u.weights[j]!, 0) / total);
}

function pearson(a: number[], b: number[]): number {
  const n = a.length;
  const ma = a.reduce((x, y) => x + y, 0) / n;
  const mb = b.reduce((x, y) => x + y, 0) / n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

async function dumpDatabase(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows: tables } = await client.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`);
    let text = "";
    for (const t of tables) {
      const { rows } = await client.query(`SELECT row_to_json(x)::text AS j FROM "${t.tablename}" x`);
      for (const r of rows as Array<{ j: string }>) text += r.j + "\n";
    }
    return text;
  } finally {
    await client.end();
  }
}

async function completed(s: FlSetup, id: string): Promise<FlExperiment> {
  const done = await s.client.waitForExperiment(id, 180_000);
  const exp = await s.client.getExperiment(id);
  if (done.state !== "completed") expect.fail(`${done.reason}: ${JSON.stringify(exp.roundList?.map((r) => ({ round: r.round, reason: r.reason, secagg: r.secagg, updates: r.updates.map((u) => [u.propletId, u.state, u.reason]) })))}`);
  return exp;
}

/** The held updates of one round, by proplet id. */
function heldOf(exp: FlExperiment, round: number, held: Map<string, HeldUpdate>): Map<string, HeldUpdate> {
  const out = new Map<string, HeldUpdate>();
  for (const u of exp.roundList!.find((r) => r.round === round)!.updates) {
    const h = u.runId ? held.get(u.runId) : undefined;
    if (h) out.set(u.propletId, h);
  }
  return out;
}

describeWhen(
  "federated learning with secure aggregation",
  DATASET_AVAILABLE,
  { test: "needs the breast cancer data set", why: "python3-sklearn is not installed (apt-get install python3-sklearn)", skip: "python3-sklearn is not installed" },
  () => {
    it("the manager learns only the sum: each model is the FedAvg of the held updates within quantization, accuracy as plain FedAvg, no plaintext update stored or logged, masked inputs uncorrelated", async () => {
      const capture = heldCapture();
      const s = await flSetup(cleanups, { hooks: capture.hooks });
      const wire = await sniff(s);
      const rounds = 4;
      const created = await s.client.createExperiment({ ...(await experimentBody({ rounds, aggregation: "secagg" })), start: true });
      const exp = await completed(s, created.id);
      expect(exp.aggregation).toBe("secagg");

      // Snapshot what the manager kept before anything else runs in this database.
      const stored = await dumpDatabase(s.db.url);
      const logs = s.logs.join("");

      const secaggAccuracies: number[] = [];
      for (const round of exp.roundList!) {
        expect(round.state).toBe("completed");
        const sa = round.secagg!;
        expect(sa.survivors).toEqual(["p1", "p2", "p3"]);
        expect(sa.dropped).toEqual([]);
        expect(sa.refusals).toEqual([]);
        const held = [...heldOf(exp, round.round, capture.held).values()].sort((a, b) => (a.propletId < b.propletId ? -1 : 1));
        expect(held).toHaveLength(3);
        const model = await s.client.getModel(exp.id, round.round);
        // The manager's record names each held update's digest, never its samples or weights.
        for (const u of round.updates) {
          expect(u.state).toBe("accepted");
          expect(u.samples).toBeNull();
          expect(u.digest).toBe(`sha256:${createHash("sha256").update(heldOf(exp, round.round, capture.held).get(u.propletId)!.bytes).digest("hex")}`);
          // The run's stdout the manager got is the held-update report, not the update.
          const task = await s.client.getTask(u.taskId!);
          expect(JSON.parse(Buffer.from(task.latestRun!.result!.stdoutBase64, "base64").toString())).toMatchObject({ format: "propeller-fl-held/1", update: u.digest, truncated: false });
        }
        expect(model.updates.map((u) => u.samples)).toEqual([null, null, null]);
        expect(model.samples).toBe(held.reduce((a, u) => a + u.samples, 0));
        // Within the fixed-point bound: each participant's lane is off by at most 2^−(f+1) (times its weight, over the total).
        const expected = plainFedAvg(held);
        const bound = (held.length * 2 ** -(sa.fractionBits + 1)) / model.samples + 1e-12;
        const worst = Math.max(...model.weights.map((w, j) => Math.abs(w - expected[j]!)));
        expect(worst).toBeLessThanOrEqual(bound);
        expect(worst).toBeGreaterThan(0); // it is the quantized sum, not the float64 FedAvg
        secaggAccuracies.push(accuracy(model.weights, s.split.test));
      }

      // No plaintext update reached the manager: neither its bytes nor any of its weights as written.
      const allHeld = [...capture.held.values()];
      expect(allHeld).toHaveLength(3 * rounds);
      let probes = 0;
      for (const h of allHeld) {
        const text = h.bytes.toString("utf8");
        expect(stored.includes(text)).toBe(false);
        expect(logs.includes(text)).toBe(false);
        const written = /"weights"\s*:\s*\[([^\]]*)\]/.exec(text)![1]!.split(",").map((t) => t.trim());
        for (const token of written.filter((t) => t.replace(/[-.]/g, "").length >= 8)) {
          probes++;
          expect(stored.includes(token), `database holds weight ${token} of ${h.propletId}`).toBe(false);
          expect(logs.includes(token), `logs hold weight ${token} of ${h.propletId}`).toBe(false);
        }
      }
      expect(probes).toBeGreaterThan(3 * rounds * 20);

      // The manager's view of each masked update is uncorrelated with the plaintext it hides.
      const masked: number[] = [];
      const plain: number[] = [];
      for (const { propletId, msg } of wire.replies) {
        if (msg.step.kind !== "mask") continue;
        const sessionRound = exp.roundList!.find((r) => r.secagg?.session === msg.session)!;
        const sa = sessionRound.secagg!;
        const h = heldOf(exp, sessionRound.round, capture.held).get(propletId)!;
        const params = { roundId: msg.session, threshold: sa.threshold, length: h.weights.length, clip: sa.clip, maxWeight: sa.maxWeight, fractionBits: sa.fractionBits };
        const lanes = decodeLanes(msg.step.masked.lanes, h.weights.length + 1)!;
        const q = quantize(params, h.weights, h.samples);
        for (let i = 0; i < h.weights.length; i++) {
          masked.push(lanes[i]!);
          plain.push(q[i]! | 0);
        }
        // Not even the weight lane (the sample count) is in the clear.
        expect(lanes[h.weights.length]).not.toBe(h.samples);
      }
      expect(masked).toHaveLength(3 * rounds * 31);
      const r = pearson(masked, plain);
      // 372 pairs: |r| of independent samples is below 4/√n ≈ 0.21 but for one case in 15 000.
      expect(Math.abs(r)).toBeLessThan(0.21);
      // And the masked lanes look uniform over 32 bits (mean 2^31 within 6 standard errors).
      const mean = masked.reduce((a, b) => a + b, 0) / masked.length;
      expect(Math.abs(mean - 2 ** 31)).toBeLessThan(6 * (2 ** 32 / Math.sqrt(12)) / Math.sqrt(masked.length));

      // Plain FedAvg on the same data, same client, same rounds: the accuracy is the same to a point.
      const plainExp = await completed(s, (await s.client.createExperiment({ ...(await experimentBody({ rounds })), start: true })).id);
      const plainAccuracy = accuracy((await s.client.getModel(plainExp.id, rounds)).weights, s.split.test);
      const secaggAccuracy = secaggAccuracies[secaggAccuracies.length - 1]!;
      expect(secaggAccuracy).toBeGreaterThan(0.9);
      expect(Math.abs(secaggAccuracy - plainAccuracy)).toBeLessThanOrEqual(0.01);
    }, TIMEOUT_MS);

    it("a participant that leaves after sharing keys is recovered from the shares; bad secure-aggregation messages are refused and recorded in the round", async () => {
      const capture = heldCapture();
      const state: { s?: FlSetup; p3Killed: boolean; p1Sessions: Set<string>; injected: boolean; injectError?: string } = { p3Killed: false, p1Sessions: new Set(), injected: false };
      let inject: (session: string) => Promise<void> = async () => undefined;
      const s = await flSetup(cleanups, {
        hooks: (i) => ({
          ...capture.hooks(i),
          // p3 is killed (as a crash) right after it sent its shares in round 1: it never masks.
          afterSecAggReply: (kind) => {
            if (i !== 3 || kind !== "share" || state.p3Killed) return;
            state.p3Killed = true;
            void state.s!.proplets[2]!.kill();
          },
          // p1 holds its round-2 share step open while bad messages reach the manager.
          beforeSecAggReply: async (kind, session) => {
            if (i !== 1) return;
            state.p1Sessions.add(session);
            if (kind === "share" && state.p1Sessions.size === 2 && !state.injected) {
              state.injected = true;
              await inject(session).catch((err: unknown) => {
                state.injectError = String(err);
              });
            }
          },
        }),
      });
      state.s = s;
      const wire = await sniff(s);

      // Parameters are checked at creation.
      await expect(s.client.createExperiment({ ...(await experimentBody({ aggregation: "secagg", secagg: { threshold: 4 } })) })).rejects.toThrow(/threshold 4 exceeds the 3 participants/);
      await expect(s.client.createExperiment({ ...(await experimentBody({ aggregation: "secagg", k: 3, secagg: { threshold: 2 } })) })).rejects.toThrow(/below k/);
      await expect(s.client.createExperiment({ ...(await experimentBody({ secagg: { threshold: 2 } })) })).rejects.toThrow(/aggregation is not "secagg"/);

      const publish = (propletId: string, payload: Buffer) => wire.conn.publish(wire.topics.proplet(propletId, "secagg/reply"), payload);
      inject = async (current) => {
        const r1 = (propletId: string, kind: string) => wire.replies.find((r) => r.propletId === propletId && r.msg.step.kind === kind && r.msg.session !== current)!;
        const r2 = (propletId: string, kind: string) => wire.replies.find((r) => r.propletId === propletId && r.msg.step.kind === kind && r.msg.session === current)!;
        const reframe = (raw: Buffer, change: (m: Record<string, unknown>) => void) => {
          const m = JSON.parse(raw.toString("utf8")) as Record<string, unknown>;
          m.messageId = `injected-${Math.random().toString(36).slice(2)}`;
          change(m);
          return Buffer.from(JSON.stringify(m));
        };
        // Malformed: not JSON at all.
        await publish("p1", Buffer.from("{this is not json"));
        // Oversized: a masked input longer than any model, in this round's session.
        await publish("p1", reframe(r1("p1", "mask").raw, (m) => {
          m.session = current;
          (m.step as { masked: { lanes: string } }).masked.lanes = "A".repeat(Math.ceil(((LIMITS.flMaxParams + 1) * 16) / 3) + 8);
        }));
        // Non-participants: p3 (left in round 1, excluded) and p9 (never invited), in this round's session.
        await publish("p3", reframe(r1("p3", "share").raw, (m) => (m.session = current)));
        await publish("p9", encodeTopicMessage("secagg/reply", { kind: "secagg.reply", propletId: "p9", session: current, step: { kind: "refused", of: "share", reason: "p9 was never asked" } }));
        // A replay from the earlier round: p1's round-1 share keys, byte for byte.
        await publish("p1", r1("p1", "share").raw);
        // A repeat within this round: p2's advertise, byte for byte.
        await publish("p2", r2("p2", "advertise").raw);
        await new Promise((r) => setTimeout(r, 1000));
      };

      const created = await s.client.createExperiment({
        ...(await experimentBody({ rounds: 2, k: 2, aggregation: "secagg", secagg: { threshold: 2, stepTimeoutMs: 3000 }, dropouts: "exclude" })),
        start: true,
      });
      const exp = await completed(s, created.id).finally(() => expect(state.injectError).toBeUndefined());
      expect(state.p3Killed).toBe(true);
      expect(state.injected).toBe(true);

      // Round 1: p3 left after sharing keys; the sum of p1 and p2 was unmasked with the shares of p3's mask key.
      const r1 = exp.roundList![0]!;
      expect(r1.state).toBe("completed");
      expect(r1.secagg!.participants).toEqual(["p1", "p2", "p3"]);
      expect(r1.secagg!.survivors).toEqual(["p1", "p2"]);
      expect(r1.secagg!.dropped).toEqual([{ propletId: "p3", reason: "no answer to the mask step within 3000 ms" }]);
      expect(r1.updates.find((u) => u.propletId === "p3")).toMatchObject({ state: "missing", reason: expect.stringMatching(/^secagg_dropout: no answer to the mask step/) });
      const m1 = await s.client.getModel(exp.id, 1);
      const held1 = heldOf(exp, 1, capture.held);
      expect([...held1.keys()].sort()).toEqual(["p1", "p2", "p3"]);
      const survivors = [held1.get("p1")!, held1.get("p2")!];
      const expected = plainFedAvg(survivors);
      expect(m1.samples).toBe(survivors[0]!.samples + survivors[1]!.samples);
      expect(m1.updates.map((u) => u.propletId)).toEqual(["p1", "p2"]);
      const bound = (2 * 2 ** -(r1.secagg!.fractionBits + 1)) / m1.samples + 1e-12;
      expect(Math.max(...m1.weights.map((w, j) => Math.abs(w - expected[j]!)))).toBeLessThanOrEqual(bound);
      expect(exp.participants.find((p) => p.propletId === "p3")).toMatchObject({ state: "excluded" });

      // Round 2: p1 and p2 only; every bad message refused with its reason, and the round went on.
      const r2 = exp.roundList![1]!;
      expect(r2.state).toBe("completed");
      expect(r2.secagg!.survivors).toEqual(["p1", "p2"]);
      const refusals = r2.secagg!.refusals;
      const has = (from: string, pattern: RegExp) => expect(refusals.some((r) => r.from === from && pattern.test(r.reason)), `${from} ${pattern} in ${JSON.stringify(refusals)}`).toBe(true);
      has("p1", /^malformed secure-aggregation message: payload is not JSON/);
      has("p1", /^malformed secure-aggregation message: message is invalid/);
      has("p3", /p3 is not a participant of secure aggregation session/);
      has("p9", /p9 is not a participant of secure aggregation session/);
      has("p1", /a message of session .*\/r1\/.*, not of this round's session .*: replayed from an earlier round/);
      has("p2", /was already received: a repeat or a replay/);
      expect(refusals).toHaveLength(6);
      const m2 = await s.client.getModel(exp.id, 2);
      const held2 = [...heldOf(exp, 2, capture.held).values()];
      expect(held2.map((h) => h.propletId).sort()).toEqual(["p1", "p2"]);
      const expected2 = plainFedAvg(held2);
      expect(Math.max(...m2.weights.map((w, j) => Math.abs(w - expected2[j]!)))).toBeLessThanOrEqual((2 * 2 ** -(r2.secagg!.fractionBits + 1)) / m2.samples + 1e-12);
    }, TIMEOUT_MS);

    it("a manager that stops mid-session: the round is not resumed (each update was held for one session) and fails saying why", async () => {
      const state: { s?: FlSetup; restarting: boolean; restarted: boolean } = { restarting: false, restarted: false };
      const s = await flSetup(cleanups, {
        hooks: (i) => ({
          // p1 holds its share step until the manager running the session was replaced.
          beforeSecAggReply: async (kind) => {
            if (i !== 1 || kind !== "share" || state.restarting) return;
            state.restarting = true;
            await state.s!.restartManager();
            state.restarted = true;
          },
        }),
      });
      state.s = s;
      const created = await s.client.createExperiment({ ...(await experimentBody({ rounds: 2, aggregation: "secagg", secagg: { stepTimeoutMs: 1000 } })), start: true });
      await waitFor(async () => (state.restarted ? true : null), 120_000, "the restart");
      const done = await s.client.waitForExperiment(created.id, 120_000);
      expect(state.restarted).toBe(true);
      expect(done.state).toBe("failed");
      const exp = await s.client.getExperiment(created.id);
      const r1 = exp.roundList![0]!;
      expect(r1.state).toBe("failed");
      expect(r1.reason).toMatch(/^secure aggregation session .*\/r1\/.* was interrupted \(the manager running it stopped\) and cannot be resumed$/);
      expect(r1.secagg!.session).toContain(`${created.id}/r1/`);
      expect(exp.latestModel.version).toBe(0);
    }, TIMEOUT_MS);
  },
);
