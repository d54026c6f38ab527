/**
 * Two manager processes' worth of managers on one PostgreSQL database and one broker: every run is
 * dispatched exactly once (queued runs are claimed with FOR UPDATE SKIP LOCKED). Basic check; the
 * thorough multi-manager test comes with its own issue.
 */
import { afterAll, describe, expect, it } from "vitest";
import { waitFor } from "../../testing/net.js";
import { startManager, type RunningManager } from "../index.js";
import { ARTIFACT, BOOTSTRAP, api, startBacking, startHarness, waitForProplet, type Backing, type Harness } from "./helpers.js";
import { decodeEntryBundle, leafHash, openCheckpoint, parseVerifierKey, rootOf } from "../../protocol/tlog/index.js";

describe("two managers on one database", () => {
  let backing: Backing;
  let h: Harness;
  let second: RunningManager;
  afterAll(async () => {
    await second?.close();
    await h?.close();
    await backing?.close();
  });

  it("never dispatches a run twice, and both append to one transparency log, each receipt once", async () => {
    backing = await startBacking("services");
    h = await startHarness(backing, { ackTimeoutMs: 30_000 });
    second = await startManager({ ...h.config, http: { port: 0 } });
    // Memory for all 20 at once (the manager reserves each run's memory limit, as proplets do).
    const p = await h.proplet("shared", { capabilities: { maxConcurrency: 1000, memoryBytes: 2 ** 40 } });
    await waitForProplet(h, p.id);

    const ids: string[] = [];
    const create = (base: string, i: number) =>
      api<{ id: string }>(base, "POST", "/tasks", { name: `m-${i}`, artifact: ARTIFACT, start: true }).then((r) => {
        expect(r.status).toBe(201);
        ids.push(r.body.id);
      });
    await Promise.all(Array.from({ length: 20 }, (_, i) => create(i % 2 === 0 ? h.manager.url : second.url, i)));

    await waitFor(() => p.runs.length === 20, 20_000, "20 runs delivered");
    await new Promise((r) => setTimeout(r, 1000)); // room for a double delivery to show up
    expect(p.starts).toHaveLength(20);
    expect(new Set(p.starts.map((s) => s.taskId))).toEqual(new Set(ids));

    for (const start of p.runs) await p.result(start, { stdout: start.taskId });
    // Both managers hear every result; each is stored once, and both views agree.
    await waitFor(async () => {
      const list = await api<{ items: Array<{ state: string }> }>(second.url, "GET", "/tasks?state=completed&limit=100");
      return list.body.items.length === 20;
    }, 20_000, "all completed");
    for (const id of ids) {
      const runs = await api<{ items: Array<{ result: { stdout: string } }> }>(h.manager.url, "GET", `/tasks/${id}/runs`);
      expect(runs.body.items).toHaveLength(1);
      expect(runs.body.items[0]!.result.stdout).toBe(id);
    }
    // One transparency log across both: one key, and a checkpoint holding each receipt exactly once,
    // whichever manager stored it (both sequence; the head row lock orders them).
    const key = await (await fetch(`${h.manager.url}/log/key`)).text();
    expect(await (await fetch(`${second.url}/log/key`)).text()).toBe(key);
    const logKey = parseVerifierKey(key);
    const cp = await waitFor(async () => {
      const opened = openCheckpoint(await (await fetch(`${second.url}/log/checkpoint`)).text(), logKey).checkpoint;
      return opened.size === 20 ? opened : null;
    }, 20_000, "a checkpoint of all 20 receipts");
    const entries = decodeEntryBundle(Buffer.from(await (await fetch(`${h.manager.url}/log/tile/entries/000.p/20`)).arrayBuffer()));
    expect(rootOf(entries.map((e) => leafHash(e))).equals(cp.root)).toBe(true);
    const loggedRuns = entries.map((e) => (JSON.parse(Buffer.from(e.toString().split(".")[1]!, "base64url").toString()) as { runId: string }).runId);
    expect(new Set(loggedRuns)).toEqual(new Set(p.runs.map((r) => r.runId)));
    await p.close();
  });
});

describe("failed authentications counted across two managers on one database", () => {
  let backing: Backing;
  let h: Harness;
  let second: RunningManager;
  afterAll(async () => {
    await second?.close();
    await h?.close();
    await backing?.close();
  });

  it("a client spreading bad credentials over both gets max + 1 tries in all, then 429 from each", async () => {
    backing = await startBacking("services");
    h = await startHarness(backing, { auth: { ...BOOTSTRAP, failureLimit: { max: 4, windowMs: 60_000 } } });
    second = await startManager({ ...h.config, http: { port: 0 } });
    const bad = "pk_invalid-credential-0000000000000000000000";
    const tryWith = async (base: string) => (await api(base, "GET", "/tasks", undefined, bad)).status;
    // Four failures in all, two on each: each manager saw only two, the database four.
    expect([await tryWith(h.manager.url), await tryWith(h.manager.url), await tryWith(second.url), await tryWith(second.url)]).toEqual([401, 401, 401, 401]);
    // The second learnt the shared count at its last failure; the first learns it at its next one.
    expect(await tryWith(second.url)).toBe(429);
    expect(await tryWith(h.manager.url)).toBe(401);
    expect(await tryWith(h.manager.url)).toBe(429);
    // Per process, each would have allowed four: 8 tries in all, not 5.
  });
});
