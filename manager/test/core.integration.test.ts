/**
 * Scheduling, dispatch leases and liveness against a real manager, a real broker (aedes in process,
 * and the machine's Mosquitto) and a real database (PGlite, and PostgreSQL), driven by scripted
 * proplets speaking the real MQTT protocol. Each test uses its own tag so tests sharing one
 * manager cannot take each other's work.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../../testing/net.js";
import { DEPLOYMENTS, bearer, createTask, getTask, startBacking, startHarness, waitForProplet, waitForTask, type Backing, type Harness, type ScriptedOptions } from "./helpers.js";

// Generous: the test machine may be heavily loaded, and an early redelivery would be a false alarm.
const ACK_TIMEOUT_MS = 2000;
const MAX_DELIVERIES = 3;
const HEARTBEAT_TIMEOUT_MS = 2500;

for (const deployment of DEPLOYMENTS) {
  describe(`dispatch and liveness (${deployment})`, () => {
    let backing: Backing;
    let h: Harness;

    beforeAll(async () => {
      backing = await startBacking(deployment);
      h = await startHarness(backing, { ackTimeoutMs: ACK_TIMEOUT_MS, maxDeliveries: MAX_DELIVERIES, heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS, reconcileGraceMs: 1000 });
    }, 180_000);
    afterAll(async () => {
      await h?.close();
      await backing?.close();
    });

    const tag = () => `t${randomBytes(4).toString("hex")}`;
    const proplet = async (id: string, t: string, options: ScriptedOptions = {}) => {
      const p = await h.proplet(`${id}-${t}`, { ...options, capabilities: { tags: [t], ...options.capabilities } });
      if (options.autoAnnounce ?? true) await waitForProplet(h, p.id);
      return p;
    };
    const counters = async () => (await h.api("GET", "/health")).body.counters as Record<string, number>;

    it("keeps a started task pending with a reason while no proplet fits, then dispatches it when one announces", async () => {
      const t = tag();
      const task = await createTask(h, { name: "wait", start: true, requirements: { tags: [t] } });
      const waiting = await waitForTask(h, task.id, (x) => /no live proplet offers runtime wasi-p1 with tags/.test(x.pendingReason ?? ""), "pending reason");
      expect(waiting.state).toBe("pending");
      expect(waiting.pendingReason).toContain(`[${t}]`);
      expect(waiting.latestRun.state).toBe("queued");

      const p = await proplet("p", t);
      const start = await p.waitForStart();
      expect(start).toMatchObject({ taskId: task.id, runId: task.latestRun.id, attempt: 1, runtime: "wasi-p1", propletId: p.id });
      expect(start.artifact).toMatchObject({ digest: task.artifact.digest, size: 8, location: { kind: "inline", data: task.artifact && expect.any(String) } });
      expect(Buffer.from((start.artifact.location as { data: string }).data, "base64").toString("base64")).toBe((await import("./helpers.js")).ARTIFACT.inline);
      expect(start.receiptNonce).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 random bytes, base64url
      const running = await waitForTask(h, task.id, (x) => x.state === "running", "running");
      expect(running.pendingReason).toBeNull();
      expect(running.latestRun).toMatchObject({ state: "running", propletId: p.id, deliveries: 1 });
      expect(running.latestRun.acceptedAt).toEqual(expect.any(String));

      await p.result(start, { stdout: "héllo\n", stderr: "warn", exitCode: 0 });
      const done = await waitForTask(h, task.id, (x) => x.state === "completed", "completed");
      expect(done.latestRun.result).toEqual({
        exitCode: 0,
        returnValues: null,
        stdout: "héllo\n",
        stderr: "warn",
        stdoutBase64: Buffer.from("héllo\n").toString("base64"),
        stderrBase64: Buffer.from("warn").toString("base64"),
        stdoutTruncated: false,
        stderrTruncated: false,
        error: null,
      });
      await waitFor(() => p.acks.some((a) => a.runId === start.runId), 5000, "result-ack");

      // A re-run is a new run with a new id and a fresh nonce; the first run stays in the history.
      await h.api("POST", `/tasks/${task.id}/start`);
      const second = await p.waitForStart(2);
      expect(second.runId).not.toBe(start.runId);
      expect(second.attempt).toBe(2);
      expect(second.receiptNonce).not.toBe(start.receiptNonce);
      await p.result(second, { returnValues: [42], exitCode: null });
      await waitForTask(h, task.id, (x) => x.state === "completed" && x.latestRun.id === second.runId, "second run completed");
      const runs = await h.api("GET", `/tasks/${task.id}/runs`);
      expect(runs.body.items.map((r: { id: string; state: string }) => [r.id, r.state])).toEqual([
        [second.runId, "completed"],
        [start.runId, "completed"],
      ]);
      expect((await h.api("GET", `/tasks/${task.id}/results`)).body.result.returnValues).toEqual([42]);
      await p.close();
    });

    it("sends a task with an explicit target to that proplet only", async () => {
      const t = tag();
      const a = await proplet("a", t);
      const b = await proplet("b", t);
      const task = await createTask(h, { name: "targeted", start: true, target: b.id, requirements: { tags: [t] } });
      const start = await b.waitForStart();
      expect(start.taskId).toBe(task.id);
      await new Promise((r) => setTimeout(r, 300));
      expect(a.runs).toHaveLength(0);
      const ghost = await createTask(h, { name: "ghost", start: true, target: `ghost-${t}` });
      await waitForTask(h, ghost.id, (x) => x.pendingReason === `target proplet ghost-${t} is not live`, "target reason");
      await h.api("POST", `/tasks/${ghost.id}/stop`);
      await a.close();
      await b.close();
    });

    it("places on the least loaded proplet, waits when all are busy, and continues when a slot frees", async () => {
      const t = tag();
      const a = await proplet("a", t, { capabilities: { maxConcurrency: 2 } });
      const b = await proplet("b", t, { capabilities: { maxConcurrency: 2 } });
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) {
        const task = await createTask(h, { name: `ll-${i}`, start: true, requirements: { tags: [t] } });
        ids.push(task.id);
        await waitForTask(h, task.id, (x) => x.state === "running", `task ${i} running`);
      }
      expect(a.runs).toHaveLength(2);
      expect(b.runs).toHaveLength(2);
      const list = await h.api("GET", "/proplets");
      const view = list.body.items.find((p: { id: string }) => p.id === a.id);
      expect(view).toMatchObject({ alive: true, running: 2, capabilities: { maxConcurrency: 2, tags: [t] } });

      const fifth = await createTask(h, { name: "ll-5", start: true, requirements: { tags: [t] } });
      await waitForTask(h, fifth.id, (x) => x.pendingReason === "all 2 matching proplet(s) are busy", "busy reason");
      await b.result(b.runs[0]!);
      await waitForTask(h, fifth.id, (x) => x.state === "running", "fifth running once b has a free slot");
      expect(b.runs.map((s) => s.taskId)).toContain(fifth.id);
      await a.close();
      await b.close();
    });

    it("redelivers an unaccepted start with the same run id, then fails the run after maxDeliveries", async () => {
      const t = tag();
      const p = await proplet("silent", t, { autoAccept: false });
      const before = await counters();
      const task = await createTask(h, { name: "unacked", start: true, requirements: { tags: [t] } });
      await p.waitForDeliveries(MAX_DELIVERIES, ACK_TIMEOUT_MS * (MAX_DELIVERIES + 3));
      expect(new Set(p.starts.map((s) => s.runId))).toEqual(new Set([task.latestRun.id]));
      expect(new Set(p.starts.map((s) => s.receiptNonce)).size).toBe(1);
      const failed = await waitForTask(h, task.id, (x) => x.state === "failed", "failed after deliveries", ACK_TIMEOUT_MS * 4);
      expect(failed.latestRun).toMatchObject({ state: "failed", deliveries: MAX_DELIVERIES, propletId: p.id });
      expect(failed.latestRun.result.error.code).toBe("not_accepted");
      expect(failed.latestRun.result.error.message).toContain(`${MAX_DELIVERIES} deliveries`);
      await new Promise((r) => setTimeout(r, ACK_TIMEOUT_MS * 2));
      expect(p.starts).toHaveLength(MAX_DELIVERIES); // nothing after it failed
      const after = await counters();
      expect(after.redeliveries! - before.redeliveries!).toBe(MAX_DELIVERIES - 1);
      expect(after.deliveryExhausted! - before.deliveryExhausted!).toBe(1);

      // An accept on the second delivery takes the lease: running, not failed.
      const late = await createTask(h, { name: "late-ack", start: true, requirements: { tags: [t] } });
      const first = await p.waitForDeliveries(MAX_DELIVERIES + 1);
      const second = await p.waitForDeliveries(MAX_DELIVERIES + 2, ACK_TIMEOUT_MS * 4);
      expect(second.runId).toBe(first.runId);
      await p.accept(second);
      const running = await waitForTask(h, late.id, (x) => x.state === "running", "running after late accept");
      expect(running.latestRun.deliveries).toBe(2);
      await p.close();
    });

    it("takes a run listed in a heartbeat as accepted, and tells a proplet to stop a run that is no longer its", async () => {
      const t = tag();
      const p = await proplet("lister", t, { autoAccept: false, heartbeatMs: 0 });
      const task = await createTask(h, { name: "listed", start: true, requirements: { tags: [t] } });
      const start = await p.waitForStart();
      // The accept was "lost"; the heartbeat says the proplet runs it.
      p.running = [{ taskId: start.taskId, runId: start.runId }];
      await p.heartbeat();
      const running = await waitForTask(h, task.id, (x) => x.state === "running", "running from the heartbeat");
      expect(running.latestRun.deliveries).toBe(1);
      // Stopped by request while the stop message is "lost": the proplet still lists it and is told again.
      await h.api("POST", `/tasks/${task.id}/stop`);
      await waitFor(() => p.stops.length === 1, 5000, "first stop");
      await p.announce();
      await waitFor(() => p.stops.length === 2, 5000, "stop again for a run no longer its");
      expect(p.stops.every((s) => s.runId === start.runId)).toBe(true);
      await p.close();
    });

    it("fails a proplet's runs with the reason when its last will arrives (policy fail)", async () => {
      const t = tag();
      const p = await proplet("will", t);
      const task = await createTask(h, { name: "lost", start: true, requirements: { tags: [t] } });
      await waitForTask(h, task.id, (x) => x.state === "running", "running");
      await p.crash();
      const failed = await waitForTask(h, task.id, (x) => x.state === "failed", "failed on last will");
      expect(failed.latestRun.result.error).toEqual({ code: "proplet_lost", message: `proplet ${p.id} went offline (last will)` });
      await waitForProplet(h, p.id, false);
    });

    it("keeps the runs of a proplet that comes back and claims them within the grace after its last will", async () => {
      const t = tag();
      const p = await proplet("phoenix", t);
      const task = await createTask(h, { name: "phoenix", start: true, requirements: { tags: [t] } });
      const start = await p.waitForStart();
      await waitForTask(h, task.id, (x) => x.state === "running", "running");
      await p.crash(); // the broker publishes the will (as it also does on its own shutdown)
      await waitForProplet(h, p.id, false);
      // The same proplet process reconnecting: it keeps its identity key and the runs it holds.
      const back = await h.proplet(p.id, { capabilities: { tags: [t] }, running: [{ taskId: start.taskId, runId: start.runId }], identity: p.identity });
      await waitForProplet(h, p.id, true);
      await new Promise((r) => setTimeout(r, 1500)); // past the grace (reconcileGraceMs = 1000)
      expect((await getTask(h, task.id)).state).toBe("running");
      await back.result(start, { stdout: "still here" });
      const done = await waitForTask(h, task.id, (x) => x.state === "completed", "completed after coming back");
      expect(done.latestRun.id).toBe(start.runId);
      await back.close();
    });

    it("reschedules a lost proplet's run as a new attempt elsewhere (policy reschedule)", async () => {
      const t = tag();
      const a = await proplet("a", t);
      const b = await proplet("b", t);
      const task = await createTask(h, { name: "resched", start: true, onPropletLoss: "reschedule", requirements: { tags: [t] } });
      const running = await waitForTask(h, task.id, (x) => x.state === "running", "running");
      const [lost, other] = running.latestRun.propletId === a.id ? [a, b] : [b, a];
      await lost.crash();
      const start = await other.waitForStart();
      expect(start.taskId).toBe(task.id);
      expect(start.attempt).toBe(2);
      expect(start.runId).not.toBe(running.latestRun.id);
      await other.result(start);
      const done = await waitForTask(h, task.id, (x) => x.state === "completed", "completed elsewhere");
      expect(done.latestRun.propletId).toBe(other.id);
      const runs = (await h.api("GET", `/tasks/${task.id}/runs`)).body.items;
      expect(runs[1]).toMatchObject({ attempt: 1, state: "failed", propletId: lost.id });
      expect(runs[1].result.error.message).toBe(`proplet ${lost.id} went offline (last will); rescheduled as attempt 2`);
      await other.close();
    });

    it("treats missed heartbeats as loss: the run fails with the reason and the proplet is told to stop", async () => {
      const t = tag();
      const p = await proplet("mute", t, { heartbeatMs: 0 });
      const task = await createTask(h, { name: "mute", start: true, requirements: { tags: [t] } });
      const start = await p.waitForStart();
      await waitForTask(h, task.id, (x) => x.state === "running", "running");
      const failed = await waitForTask(h, task.id, (x) => x.state === "failed", "failed on missed heartbeats", HEARTBEAT_TIMEOUT_MS * 4);
      expect(failed.latestRun.result.error.message).toMatch(new RegExp(`^proplet ${p.id} missed heartbeats for ${HEARTBEAT_TIMEOUT_MS} ms`));
      await waitFor(() => p.stops.some((s) => s.runId === start.runId), 5000, "task.stop");
      expect((await h.api("GET", `/proplets/${p.id}`)).body.alive).toBe(false);

      // It comes back: a heartbeat from a proplet the manager thinks gone gets a reannounce request.
      await p.heartbeat();
      await waitFor(() => p.controls.length > 0, 5000, "reannounce request");
      expect(p.controls[0]).toMatchObject({ kind: "proplet.control", action: "reannounce", propletId: p.id });
      await waitForProplet(h, p.id, true); // it announced again (autoAnnounce)
      await p.close();
    });

    it("asks an unknown proplet that heartbeats to announce itself", async () => {
      const t = tag();
      const p = await h.proplet(`stranger-${t}`, { autoAnnounce: false, heartbeatMs: 0 });
      await p.heartbeat();
      await waitFor(() => p.controls.length === 1, 5000, "control");
      expect(p.controls[0]!.action).toBe("reannounce");
      expect((await h.api("GET", `/proplets/${p.id}`)).status).toBe(404);
      await p.close();
    });

    it("ignores accepts and results from a proplet the run is not assigned to, and messages naming another proplet", async () => {
      const t = tag();
      const a = await proplet("a", t);
      const b = await proplet("b", t);
      const task = await createTask(h, { name: "owned", start: true, target: a.id, requirements: { tags: [t] } });
      const start = await a.waitForStart();
      await waitForTask(h, task.id, (x) => x.state === "running", "running");
      const before = await counters();
      await b.result(start, { stdout: "forged" }); // on b's own topic, about a's run
      await b.sendRaw(
        "tasks/result",
        JSON.stringify({ ...JSON.parse((await import("../../protocol/index.js")).encodeTopicMessage("tasks/result", { kind: "task.result", propletId: b.id, taskId: start.taskId, runId: start.runId, outcome: "completed", exitCode: 0, returnValues: null, stdout: "", stderr: "", stdoutTruncated: false, stderrTruncated: false, error: null, startedAt: null, finishedAt: new Date().toISOString() }).toString()) }),
        a.id, // b's message published on a's topic: the topic and the message disagree
      );
      await waitFor(async () => {
        const c = await counters();
        return c.wrongProplet! > before.wrongProplet! && c.senderMismatches! > before.senderMismatches!;
      }, 5000, "drops counted");
      expect((await getTask(h, task.id)).state).toBe("running");
      expect(b.acks).toHaveLength(0);
      await a.result(start, { stdout: "genuine" });
      const done = await waitForTask(h, task.id, (x) => x.state === "completed", "completed");
      expect(done.latestRun.result.stdout).toBe("genuine");
      await a.close();
      await b.close();
    });

    it("stores a duplicate result once and acknowledges every copy", async () => {
      const t = tag();
      const p = await proplet("dup", t);
      const task = await createTask(h, { name: "dup", start: true, requirements: { tags: [t] } });
      const start = await p.waitForStart();
      await waitForTask(h, task.id, (x) => x.state === "running", "running");
      const before = await counters();
      await p.result(start, { stdout: "first" });
      await waitFor(() => p.acks.length === 1, 5000, "first ack");
      await p.result(start, { stdout: "second", outcome: "failed" });
      await waitFor(() => p.acks.length === 2, 5000, "second ack");
      expect(p.acks.every((a) => a.runId === start.runId)).toBe(true);
      const done = await getTask(h, task.id);
      expect(done.state).toBe("completed");
      expect(done.latestRun.result.stdout).toBe("first");
      expect((await counters()).duplicateResults! - before.duplicateResults!).toBe(1);
      await p.close();
    });

    it("completes a run only with a valid receipt; serves the receipt; fails the run with the reason otherwise", async () => {
      const { generateKeyPairSync } = await import("node:crypto");
      const { receiptSigner, verifyReceipt } = await import("../../protocol/index.js");
      const t = tag();
      const p = await proplet("rcpt", t);
      const run = async (name: string) => {
        const task = await createTask(h, { name, start: true, requirements: { tags: [t] } });
        const start = await p.waitForStart(p.runs.length + 1);
        await waitForTask(h, task.id, (x) => x.state === "running", "running");
        return { task, start };
      };

      // Valid: signed by the announced identity key over what was dispatched and sent.
      const ok = await run("receipt-ok");
      await p.result(ok.start, { stdout: "fine" });
      const done = await waitForTask(h, ok.task.id, (x) => x.state === "completed", "completed");
      expect(done.latestRun.receiptCheck).toMatchObject({ ok: true, attested: false });
      const served = await fetch(`${h.manager.url}/tasks/${ok.task.id}/runs/${ok.start.runId}/receipt`, { headers: bearer() });
      expect(served.headers.get("content-type")).toMatch(/application\/jose/);
      const jws = await served.text();
      const offline = await verifyReceipt(jws, { allowUnattested: true, propletKey: p.identity.publicJwk, nonce: ok.start.receiptNonce, runId: ok.start.runId });
      expect(offline.ok).toBe(true);

      // No receipt at all.
      const none = await run("receipt-none");
      await p.result(none.start, { stdout: "x", receipt: null });
      const failedNone = await waitForTask(h, none.task.id, (x) => x.state === "failed", "failed without receipt");
      expect(failedNone.latestRun.result.error).toMatchObject({ code: "receipt_invalid" });
      expect(failedNone.latestRun.result.error.message).toMatch(/no receipt/);
      expect((await fetch(`${h.manager.url}/tasks/${none.task.id}/runs/${none.start.runId}/receipt`, { headers: bearer() })).status).toBe(404);

      // Signed by a key that is not the proplet's announced identity.
      const pair = generateKeyPairSync("ed25519");
      const stranger = await receiptSigner(pair.privateKey, pair.publicKey);
      const forged = await run("receipt-stranger");
      await p.result(forged.start, { stdout: "x", signer: stranger });
      const failedKey = await waitForTask(h, forged.task.id, (x) => x.state === "failed", "failed with a foreign key");
      expect(failedKey.latestRun.result.error.message).toMatch(/signer.proplet-key/);

      // A receipt over other output than the result carries (a receipt replayed from another run).
      const replay = await run("receipt-replay");
      await p.result(replay.start, { stdout: "what really ran", receipt: jws });
      const failedReplay = await waitForTask(h, replay.task.id, (x) => x.state === "failed", "failed with a replayed receipt");
      expect(failedReplay.latestRun.result.error.message).toMatch(/expect.task|expect.run|expect.nonce/);
      expect(failedReplay.latestRun.receiptCheck.ok).toBe(false);
      expect((await counters()).receiptsRejected).toBeGreaterThanOrEqual(3);
      await p.close();
    });

    it("places a confidential task only on a proplet with its TEE, and dispatches the KBS details", async () => {
      const { sha256Digest } = await import("../../protocol/index.js");
      const t = tag();
      const plain = await proplet("notee", t);
      const confidential = { kbsUrl: "http://127.0.0.1:1/kbs", resource: "kbs:///repo/key/app", plaintextDigest: sha256Digest("plain"), tee: "sample" };
      const task = await createTask(h, { name: "secret", start: true, requirements: { tags: [t] }, confidential });
      expect(task.encrypted).toBe(true);
      expect(task.requirements.tee).toBe("sample");
      const waiting = await waitForTask(h, task.id, (x) => /sample TEE/.test(x.pendingReason ?? ""), "pending for a TEE");
      expect(waiting.state).toBe("pending");
      expect(plain.starts).toHaveLength(0);
      const tee = await proplet("tee", t, { capabilities: { tee: { type: "sample" } } });
      const start = await tee.waitForStart();
      expect(start.confidential).toEqual(confidential);
      const contradiction = await h.api("POST", "/tasks", { name: "x", artifact: (await import("./helpers.js")).ARTIFACT, confidential, requirements: { tee: "snp" } });
      expect(contradiction.status).toBe(400);
      expect(contradiction.body.message).toMatch(/released to sample TEEs/);
      await plain.close();
      await tee.close();
    });

    it("counts and drops malformed MQTT messages and keeps serving", async () => {
      const t = tag();
      const p = await proplet("noisy", t);
      const before = await counters();
      await p.sendRaw("tasks/result", "{ not json");
      await p.sendRaw("heartbeat", JSON.stringify({ kind: "proplet.heartbeat", propletId: p.id }));
      await p.sendRaw("announce", Buffer.alloc(64, 0xff));
      await waitFor(async () => (await counters()).malformedMessages! - before.malformedMessages! === 3, 5000, "3 malformed counted");
      expect((await h.api("GET", "/health")).body.status).toBe("ok");
      const task = await createTask(h, { name: "after-noise", start: true, requirements: { tags: [t] } });
      await p.result(await p.waitForStart());
      await waitForTask(h, task.id, (x) => x.state === "completed", "completed after noise");
      await p.close();
    });

    it("stops a running task on its proplet, and 409s PATCH/DELETE while it runs unless forced", async () => {
      const t = tag();
      const p = await proplet("stop", t);
      const task = await createTask(h, { name: "stoppable", start: true, requirements: { tags: [t] } });
      const start = await p.waitForStart();
      await waitForTask(h, task.id, (x) => x.state === "running", "running");
      expect(await h.api("PATCH", `/tasks/${task.id}`, { name: "x" })).toMatchObject({ status: 409, body: { code: "illegal_transition" } });
      expect(await h.api("DELETE", `/tasks/${task.id}`)).toMatchObject({ status: 409, body: { code: "illegal_transition" } });
      const stopped = await h.api("POST", `/tasks/${task.id}/stop`);
      expect(stopped).toMatchObject({ status: 202, body: { state: "stopped", latestRun: { state: "stopped" } } });
      await waitFor(() => p.stops.some((s) => s.runId === start.runId), 5000, "task.stop");
      // The proplet reports the stop; it is acknowledged and the run stays stopped.
      await p.result(start, { outcome: "stopped", stdout: "partial", exitCode: null });
      await waitFor(() => p.acks.length === 1, 5000, "ack of the stopped result");
      const after = await getTask(h, task.id);
      expect(after.state).toBe("stopped");
      expect(after.latestRun.result.stdout).toBe("partial");

      const other = await createTask(h, { name: "forced", start: true, requirements: { tags: [t] } });
      const otherStart = await p.waitForStart(2);
      await waitForTask(h, other.id, (x) => x.state === "running", "running");
      expect((await h.api("DELETE", `/tasks/${other.id}?force=true`)).status).toBe(204);
      await waitFor(() => p.stops.some((s) => s.runId === otherStart.runId), 5000, "task.stop on forced delete");
      expect((await h.api("GET", `/tasks/${other.id}`)).status).toBe(404);
      await p.close();
    });

    it("DELETE /proplets/:id forgets the proplet and fails its runs", async () => {
      const t = tag();
      const p = await proplet("removed", t, { autoAnnounce: true });
      const task = await createTask(h, { name: "orphan", start: true, requirements: { tags: [t] } });
      await waitForTask(h, task.id, (x) => x.state === "running", "running");
      expect((await h.api("DELETE", `/proplets/${p.id}`)).status).toBe(204);
      const failed = await waitForTask(h, task.id, (x) => x.state === "failed", "failed");
      expect(failed.latestRun.result.error.message).toBe(`proplet ${p.id} was removed`);
      p.stopBeat();
      await p.close();
    });
  });
}
