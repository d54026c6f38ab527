/**
 * The transparency log through the manager's real boundary: a scripted proplet completes runs
 * over MQTT, and the log's public HTTP routes serve what an outside verifier needs.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../../testing/net.js";
import { DEPLOYMENTS, createTask, startBacking, startHarness, waitForProplet, waitForTask, type Backing, type Harness } from "./helpers.js";
import { decodeEntryBundle, decodeTile, leafHash, openCheckpoint, parseProofBundle, parseVerifierKey, rootOf, verifyProofBundle } from "../../protocol/tlog/index.js";

for (const deployment of DEPLOYMENTS) {
  describe(`transparency log of receipts (${deployment})`, () => {
    let backing: Backing;
    let h: Harness;
    beforeAll(async () => {
      backing = await startBacking(deployment);
      h = await startHarness(backing, { log: { checkpointEveryEntries: 1, origin: "test.example/log" } });
    }, 120_000);
    afterAll(async () => {
      await h?.close();
      await backing?.close();
    });

    /** GET without any credential: the log's reads are public by default. */
    const anon = (path: string) => fetch(`${h.manager.url}${path}`, { signal: AbortSignal.timeout(10_000) });

    it("logs a run's verified receipt, not a rejected one, and serves a proof that verifies offline against the pinned key", async () => {
      const p = await h.proplet("logger", { capabilities: { tags: ["tlog"] } });
      await waitForProplet(h, p.id);
      const key = parseVerifierKey(await (await anon("/log/key")).text());
      expect(key.name).toBe("test.example/log");

      const good = await createTask(h, { name: "logged", start: true, requirements: { tags: ["tlog"] } });
      const s1 = await p.waitForStart(1);
      await waitForTask(h, good.id, (t) => t.state === "running", "running");
      await p.result(s1, { stdout: "ok" });
      await waitForTask(h, good.id, (t) => t.state === "completed", "completed");

      const bad = await createTask(h, { name: "rejected", start: true, requirements: { tags: ["tlog"] } });
      const s2 = await p.waitForStart(2);
      await waitForTask(h, bad.id, (t) => t.state === "running", "running");
      await p.result(s2, { receipt: null });
      await waitForTask(h, bad.id, (t) => t.state === "failed", "failed");

      const res = await waitFor(async () => {
        const r = await anon(`/log/proof/inclusion?runId=${s1.runId}`);
        return r.status === 200 ? r : null;
      }, 10_000, "the receipt to be in a checkpoint");
      const bundle = parseProofBundle(await res.json());
      expect(verifyProofBundle(bundle, { logKey: key })).toMatchObject({ ok: true });
      // The entry is the receipt the manager serves for the run.
      const receipt = await h.api("GET", `/tasks/${good.id}/runs/${s1.runId}`);
      expect(bundle.kind === "inclusion" && Buffer.from(bundle.entry!, "base64").toString()).toBe(receipt.body.receipt);
      // The stored run names its place in the log; the rejected one has none.
      expect(receipt.body.logIndex).toBe(bundle.kind === "inclusion" ? bundle.leafIdx : -1);
      expect((await h.api("GET", `/tasks/${bad.id}/runs/${s2.runId}`)).body.logIndex).toBeNull();
      // The stored run carries its inclusion proof against the latest checkpoint: a bundle to save and check later.
      expect(receipt.body.logProof).toEqual(await (await anon(`/log/proof/inclusion?runId=${s1.runId}`)).json());
      expect(verifyProofBundle(parseProofBundle(receipt.body.logProof), { logKey: key })).toMatchObject({ ok: true });
      expect((await h.api("GET", `/tasks/${good.id}/results`)).body.logProof).toEqual(receipt.body.logProof);
      expect((await h.api("GET", `/tasks/${bad.id}/runs/${s2.runId}`)).body.logProof).toBeUndefined();

      expect((await anon(`/log/proof/inclusion?runId=${s2.runId}`)).status).toBe(404);
      const cpRes = await anon("/log/checkpoint");
      expect(cpRes.headers.get("content-type")).toBe("text/plain; charset=utf-8");
      const cp = openCheckpoint(await cpRes.text(), key).checkpoint;
      expect(cp.size).toBe(1);

      // tlog-tiles: entry bundle and level-0 tile of size 1 rebuild the checkpoint's root.
      const entries = decodeEntryBundle(Buffer.from(await (await anon("/log/tile/entries/000.p/1")).arrayBuffer()));
      const tile = decodeTile(Buffer.from(await (await anon("/log/tile/0/000.p/1")).arrayBuffer()));
      expect(entries.map((e) => leafHash(e))).toEqual(tile);
      expect(rootOf(tile).equals(cp.root)).toBe(true);
      expect((await anon("/log/tile/0/000.p/2")).status).toBe(404);
      expect((await anon("/log/tile/0/abc")).status).toBe(404);
      expect((await anon("/log/proof/consistency?size1=0")).status).toBe(200);
      expect((await anon("/log/proof/consistency?size1=5")).status).toBe(400);
      // Writes are not public.
      expect((await fetch(`${h.manager.url}/log/cosignature`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ checkpoint: "x" }) })).status).toBe(401);
      await p.close();
    });
  });
}
