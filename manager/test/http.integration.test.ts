/** The REST API over real HTTP, on both deployments (aedes + PGlite, Mosquitto + PostgreSQL). */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LIMITS, sha256Digest } from "../../protocol/index.js";
import { ARTIFACT, bearer, DEPLOYMENTS, createTask, startBacking, startHarness, type Backing, type Harness } from "./helpers.js";

for (const deployment of DEPLOYMENTS) {
  describe(`REST API (${deployment})`, () => {
    let backing: Backing;
    let h: Harness;

    beforeAll(async () => {
      backing = await startBacking(deployment);
      h = await startHarness(backing);
    }, 180_000);
    afterAll(async () => {
      await h?.close();
      await backing?.close();
    });

    it("creates a task with every default filled in, and reads it back", async () => {
      const created = await createTask(h, { name: "hello", args: ["a"], env: { K: "v" } });
      expect(created).toMatchObject({
        name: "hello",
        state: "pending",
        runtime: "wasi-p1",
        artifact: { digest: ARTIFACT.digest, size: 8, location: "inline" },
        entrypoint: { kind: "wasi" },
        args: ["a"],
        env: { K: "v" },
        stdin: "",
        limits: { timeoutMs: LIMITS.timeoutMs, memoryBytes: LIMITS.memoryBytes, outputBytes: LIMITS.outputBytes },
        target: null,
        requirements: { tags: [], tee: null },
        onPropletLoss: "fail",
        pendingReason: null,
        latestRun: null,
      });
      const got = await h.api("GET", `/tasks/${created.id}`);
      expect(got).toEqual({ status: 200, body: created });
    });

    it("lists tasks newest first with cursor paging and a state filter", async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await createTask(h, { name: `page-${i}`, start: i % 2 === 0 })).id);
      const seen: string[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 20; page++) {
        const res: { status: number; body: { items: Array<{ id: string }>; nextCursor: string | null } } = await h.api("GET", `/tasks?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
        expect(res.status).toBe(200);
        expect(res.body.items.length).toBeLessThanOrEqual(2);
        seen.push(...res.body.items.map((t) => t.id));
        cursor = res.body.nextCursor;
        if (!cursor) break;
      }
      // Newest first, each task once.
      expect(seen.slice(0, 5)).toEqual([...ids].reverse());
      expect(new Set(seen).size).toBe(seen.length);
      const started = await h.api("GET", "/tasks?state=pending&limit=500");
      expect(started.status).toBe(200);
      expect(started.body.items.every((t: { state: string }) => t.state === "pending")).toBe(true);
      const none = await h.api("GET", "/tasks?state=completed");
      expect(none.body).toEqual({ items: [], nextCursor: null });
      for (const bad of ["limit=0", "limit=501", "limit=abc", "state=bogus", "cursor=!!", "cursor=AAAA", "extra=1"]) {
        const res = await h.api("GET", `/tasks?${bad}`);
        expect(res.status, bad).toBe(400);
        expect(res.body.code, bad).toMatch(/^invalid_/);
      }
    });

    it("updates, starts, stops, re-runs and deletes, with 409 for illegal transitions", async () => {
      const t = await createTask(h, { name: "life" });
      const patched = await h.api("PATCH", `/tasks/${t.id}`, { name: "renamed", args: ["x"], limits: { timeoutMs: 5 } });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({ name: "renamed", args: ["x"], limits: { timeoutMs: 5, memoryBytes: LIMITS.memoryBytes } });

      const noResult = await h.api("GET", `/tasks/${t.id}/results`);
      expect(noResult).toMatchObject({ status: 404, body: { code: "no_result" } });
      const stopIdle = await h.api("POST", `/tasks/${t.id}/stop`);
      expect(stopIdle).toMatchObject({ status: 409, body: { code: "illegal_transition" } });

      const started = await h.api("POST", `/tasks/${t.id}/start`);
      expect(started.status).toBe(202);
      expect(started.body.state).toBe("pending");
      expect(started.body.latestRun).toMatchObject({ state: "queued", attempt: 1, propletId: null, deliveries: 0 });
      const again = await h.api("POST", `/tasks/${t.id}/start`);
      expect(again).toMatchObject({ status: 409, body: { code: "illegal_transition" } });
      expect(again.body.message).toMatch(/queued/);

      const stopped = await h.api("POST", `/tasks/${t.id}/stop`);
      expect(stopped.status).toBe(202);
      expect(stopped.body).toMatchObject({ state: "stopped", latestRun: { state: "stopped" } });
      const stopAgain = await h.api("POST", `/tasks/${t.id}/stop`);
      expect(stopAgain.status).toBe(409);

      const rerun = await h.api("POST", `/tasks/${t.id}/start`);
      expect(rerun.status).toBe(202);
      expect(rerun.body.latestRun.attempt).toBe(2);
      expect(rerun.body.latestRun.id).not.toBe(started.body.latestRun.id);
      const runs = await h.api("GET", `/tasks/${t.id}/runs`);
      expect(runs.body.items.map((r: { attempt: number }) => r.attempt)).toEqual([2, 1]);
      const one = await h.api("GET", `/tasks/${t.id}/runs/${started.body.latestRun.id}`);
      expect(one.body).toMatchObject({ id: started.body.latestRun.id, state: "stopped", taskId: t.id });
      const result = await h.api("GET", `/tasks/${t.id}/results`);
      expect(result.body.id).toBe(started.body.latestRun.id);

      expect((await h.api("DELETE", `/tasks/${t.id}`)).status).toBe(204);
      expect(await h.api("GET", `/tasks/${t.id}`)).toMatchObject({ status: 404, body: { code: "task_not_found" } });
      expect((await h.api("DELETE", `/tasks/${t.id}`)).status).toBe(404);
    });

    it("creates and starts at once", async () => {
      const t = await createTask(h, { name: "now", start: true });
      expect(t.latestRun).toMatchObject({ state: "queued", attempt: 1 });
      expect(t.pendingReason).toEqual(expect.any(String));
    });

    it("refuses malformed JSON, schema-invalid bodies, digest mismatches, bad URLs and oversized bodies", async () => {
      const malformed = await h.api("POST", "/tasks", '{"name": "x", ');
      expect(malformed).toMatchObject({ status: 400, body: { code: "malformed_json" } });
      const empty = await h.api("POST", "/tasks", "");
      expect(empty.status).toBe(400);
      const text = await fetch(`${h.manager.url}/tasks`, { method: "POST", headers: { ...bearer(), "content-type": "text/plain" }, body: "name=x" });
      expect(text.status).toBe(415);
      expect(await text.json()).toMatchObject({ code: "unsupported_media_type" });

      const invalid: Array<[string, unknown]> = [
        ["missing name", { artifact: ARTIFACT }],
        ["missing artifact", { name: "x" }],
        ["unknown field", { name: "x", artifact: ARTIFACT, colour: "red" }],
        ["bad runtime", { name: "x", artifact: ARTIFACT, runtime: "jvm" }],
        ["bad digest", { name: "x", artifact: { ...ARTIFACT, digest: "sha256:abc" } }],
        ["inline and url", { name: "x", artifact: { ...ARTIFACT, url: "https://e.com/a" } }],
        ["bad env name", { name: "x", artifact: ARTIFACT, env: { "A-B": "1" } }],
        ["too many args", { name: "x", artifact: ARTIFACT, args: Array(300).fill("a") }],
        ["limits out of range", { name: "x", artifact: ARTIFACT, limits: { memoryBytes: 1 } }],
        ["start not boolean", { name: "x", artifact: ARTIFACT, start: "yes" }],
        ["bad target", { name: "x", artifact: ARTIFACT, target: "a/b" }],
        ["bad policy", { name: "x", artifact: ARTIFACT, onPropletLoss: "retry" }],
        ["not base64 stdin", { name: "x", artifact: ARTIFACT, stdin: "???" }],
      ];
      for (const [what, body] of invalid) {
        const res = await h.api("POST", "/tasks", body);
        expect(res.status, what).toBe(400);
        expect(res.body.code, what).toBe("invalid_request");
        expect(res.body.message.length, what).toBeGreaterThan(5);
      }

      const mismatch = await h.api("POST", "/tasks", { name: "x", artifact: { digest: sha256Digest("other"), inline: ARTIFACT.inline } });
      expect(mismatch).toMatchObject({ status: 400, body: { code: "digest_mismatch" } });
      expect(mismatch.body.message).toContain(ARTIFACT.digest);

      for (const url of ["ftp://example.com/a.wasm", "https://user:secret@example.com/a.wasm", "javascript:alert(1)//xx", `https://e.com/${"a".repeat(2050)}`]) {
        const res = await h.api("POST", "/tasks", { name: "x", artifact: { digest: ARTIFACT.digest, url } });
        expect(res.status, url.slice(0, 40)).toBe(400);
        expect(["invalid_url", "invalid_request"], url.slice(0, 40)).toContain(res.body.code);
        expect(JSON.stringify(res.body)).not.toContain("secret");
      }
      const good = await h.api("POST", "/tasks", { name: "x", artifact: { digest: ARTIFACT.digest, url: "https://example.com/a.wasm" } });
      expect(good.status).toBe(201);
      expect(good.body.artifact).toEqual({ digest: ARTIFACT.digest, size: null, location: "http", url: "https://example.com/a.wasm" });

      const patchBad = await h.api("PATCH", `/tasks/${good.body.id}`, { artifact: { digest: sha256Digest("y"), inline: ARTIFACT.inline } });
      expect(patchBad).toMatchObject({ status: 400, body: { code: "digest_mismatch" } });
      expect((await h.api("PATCH", `/tasks/${good.body.id}`, {})).status).toBe(400);

      // Bigger than a 4 MiB artifact in base64 (+ headroom): refused before it is parsed.
      const huge = await h.api("POST", "/tasks", { name: "x", artifact: { digest: ARTIFACT.digest, inline: "A".repeat(6 * 1024 * 1024) } });
      expect(huge).toMatchObject({ status: 413, body: { code: "too_large" } });
    });

    it("accepts an inline artifact of exactly the 4 MiB limit", async () => {
      const big = Buffer.alloc(LIMITS.inlineArtifactBytes, 7);
      const res = await h.api("POST", "/tasks", { name: "big", artifact: { digest: sha256Digest(big), inline: big.toString("base64") } });
      expect(res.status).toBe(201);
      expect(res.body.artifact.size).toBe(LIMITS.inlineArtifactBytes);
      const over = Buffer.alloc(LIMITS.inlineArtifactBytes + 3, 7);
      const refused = await h.api("POST", "/tasks", { name: "big", artifact: { digest: sha256Digest(over), inline: over.toString("base64") } });
      expect(refused.status).toBe(400);
    });

    it("answers 404 for unknown ids and routes, 400 for malformed ids", async () => {
      const t = await createTask(h);
      expect(await h.api("GET", "/tasks/does-not-exist")).toMatchObject({ status: 404, body: { code: "task_not_found" } });
      expect(await h.api("GET", `/tasks/${t.id}/runs/nope`)).toMatchObject({ status: 404, body: { code: "run_not_found" } });
      expect(await h.api("GET", "/tasks/nope/runs")).toMatchObject({ status: 404 });
      expect(await h.api("POST", "/tasks/nope/start")).toMatchObject({ status: 404 });
      expect(await h.api("PATCH", "/tasks/nope", { name: "x" })).toMatchObject({ status: 404 });
      expect(await h.api("GET", "/proplets/nope")).toMatchObject({ status: 404, body: { code: "proplet_not_found" } });
      expect(await h.api("DELETE", "/proplets/nope")).toMatchObject({ status: 404 });
      expect(await h.api("GET", "/nothing-here")).toMatchObject({ status: 404, body: { code: "not_found" } });
      expect((await h.api("GET", "/tasks/%2Fetc")).status).toBe(400);
    });

    it("serves health and an OpenAPI document describing every route", async () => {
      const health = await h.api("GET", "/health");
      expect(health.status).toBe(200);
      expect(health.body).toMatchObject({ status: "ok", database: "ok", mqtt: "ok", counters: { malformedMessages: 0 } });
      const doc = await h.api("GET", "/openapi.json");
      expect(doc.status).toBe(200);
      expect(doc.body.openapi).toMatch(/^3\./);
      for (const path of ["/tasks", "/tasks/{id}", "/tasks/{id}/start", "/tasks/{id}/stop", "/tasks/{id}/runs", "/tasks/{id}/runs/{runId}", "/tasks/{id}/results", "/proplets", "/proplets/{id}", "/health"]) {
        expect(doc.body.paths[path], path).toBeDefined();
      }
      expect(doc.body.paths["/tasks"].post.requestBody).toBeDefined();
    });
  });
}
