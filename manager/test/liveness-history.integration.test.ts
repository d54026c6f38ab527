/**
 * GET /proplets/:id/liveness: a proplet's liveness changes — online on its announce, gone (with the
 * reason) on its will and on missed heartbeats, online again when it comes back — newest first,
 * bounded, read-scoped; on both deployments.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEPLOYMENTS, api, startBacking, startHarness, waitForProplet, type Backing, type Harness } from "./helpers.js";
import type { PropletLiveness } from "../../protocol/api/index.js";
import { waitFor } from "../../testing/net.js";
import { LIVENESS_HISTORY, livenessHistory, markGone, upsertAnnounced } from "../store/proplets.js";
import { openManagerDatabase } from "../store/open.js";

for (const deployment of DEPLOYMENTS) {
  describe(`proplet liveness history (${deployment})`, () => {
    let backing: Backing;
    let h: Harness;
    beforeAll(async () => {
      backing = await startBacking(deployment);
      h = await startHarness(backing, { heartbeatTimeoutMs: 1500 });
    });
    afterAll(async () => {
      await h?.close();
      await backing?.close();
    });

    const history = async (id: string) => (await h.api<PropletLiveness>("GET", `/proplets/${id}/liveness`)).body.items;

    it("records online, gone with its reason, and online again, newest first", async () => {
      const first = await h.proplet("hist-1");
      await waitForProplet(h, "hist-1");
      expect((await history("hist-1")).map((e) => e.event)).toEqual(["online"]);
      await first.crash(); // the broker publishes its will: offline
      await waitForProplet(h, "hist-1", false);
      const back = await h.proplet("hist-1");
      await waitForProplet(h, "hist-1");
      const items = await waitFor(async () => {
        const got = await history("hist-1");
        return got.length === 3 ? got : undefined;
      }, 10_000, "three liveness changes");
      expect(items.map((e) => e.event)).toEqual(["online", "gone", "online"]);
      expect(items[1]!.reason).toMatch(/hist-1 went offline/);
      expect(Date.parse(items[0]!.at)).toBeGreaterThanOrEqual(Date.parse(items[2]!.at));
      await back.close();
    });

    it("records missed heartbeats, refuses an unknown proplet (404) and a request without a key (401)", async () => {
      const silent = await h.proplet("hist-2", { heartbeatMs: 0 });
      await waitForProplet(h, "hist-2");
      await waitForProplet(h, "hist-2", false, 15_000);
      const items = await history("hist-2");
      expect(items[0]).toMatchObject({ event: "gone" });
      expect(items[0]!.reason).toMatch(/missed heartbeats/);
      await silent.close();
      expect((await h.api<{ code: string }>("GET", "/proplets/nobody/liveness")).status).toBe(404);
      expect((await api(h.manager.url, "GET", "/proplets/hist-2/liveness", undefined, null)).status).toBe(401);
    });
  });
}

describe("proplet liveness history: bounded", () => {
  it("keeps the newest LIVENESS_HISTORY changes of a proplet that flaps", async () => {
    const db = await openManagerDatabase("pglite://memory");
    try {
      const capabilities = { runtimes: ["wasi-p1" as const], artifactSources: [], memoryBytes: 1, maxConcurrency: 1, tee: null, tags: [] };
      const start = Date.UTC(2026, 0, 1);
      for (let i = 0; i < LIVENESS_HISTORY + 10; i++) {
        const now = new Date(start + i * 1000);
        if (i % 2 === 0) await upsertAnnounced(db, { id: "flappy", name: "flappy", capabilities, now });
        else await markGone(db, "flappy", `flap ${i}`, now);
      }
      const items = await livenessHistory(db, "flappy");
      expect(items).toHaveLength(LIVENESS_HISTORY);
      expect(items[0]).toMatchObject({ event: "gone", reason: `flap ${LIVENESS_HISTORY + 9}` });
      expect(items.at(-1)!.at.getTime()).toBe(start + 10 * 1000);
    } finally {
      await db.close();
    }
  });
});
