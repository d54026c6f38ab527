/**
 * Invocations end to end: the real manager and two real proplets (warm pools of
 * worker threads running real Wasm) on the machine's Mosquitto and a fresh PostgreSQL database.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pino from "pino";
import { startStack, type Stack } from "../../cli/stack.js";
import { sha256Digest } from "../../protocol/index.js";
import { createTestDatabase, type TestDatabase } from "../../testing/postgres.js";
import { TEST_MQTT_URL } from "../../testing/mosquitto.js";
import { uniqueTopicRoot, waitFor } from "../../testing/net.js";
import { api } from "../../manager/test/helpers.js";
import { exampleArtifact } from "./helpers.js";
import { aclRules } from "../../mqtt/security/acl.js";
import type { InvokeReply } from "../../protocol/api/index.js";

const logger = pino({ level: process.env.PROPELLER_TEST_LOG ?? "silent" });

/** (module (func (export "spin") (loop br 0))): never returns. */
const SPIN = Buffer.from([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x07, 0x08, 0x01, 0x04, 0x73, 0x70, 0x69,
  0x6e, 0x00, 0x00, 0x0a, 0x09, 0x01, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b,
]);


describe("scheduling: invocations", () => {
  let stack: Stack;
  /** The manager's REST API with the stack's bootstrap admin key. */
  const stackApi = <T>(method: string, path: string, body?: unknown) => api<T>(stack.managerUrl, method, path, body, stack.managerToken);
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
    stack = await startStack({ proplets: 2, logger, mqttUrl: TEST_MQTT_URL, databaseUrl: db.url, topicRoot: uniqueTopicRoot() });
    await waitFor(async () => (await stackApi<{ items: Array<{ alive: boolean }> }>("GET", "/proplets")).body.items.filter((p) => p.alive).length === 2, 15_000, "2 proplets");
  });
  afterAll(async () => {
    await stack?.close();
    await db?.drop();
  });

  it("serves 200 concurrent invocations from one warm instance pool", async () => {
    const created = await stackApi<{ placements: Array<{ state: string }> }>("POST", "/functions", {
      name: "add",
      artifact: await exampleArtifact("add/add.wasm"),
      export: "add",
      instances: 4,
    });
    expect(created.status).toBe(201);
    await waitFor(async () => (await stackApi<{ placements: Array<{ state: string }> }>("GET", "/functions/add")).body.placements[0]?.state === "ready", 15_000, "warm");
    const fn = await stackApi<{ placements: Array<{ propletId: string; state: string }> }>("GET", "/functions/add");
    expect(fn.body.placements).toHaveLength(1);

    const calls = await Promise.all(
      // Generous bounds: this asserts that every call is served right, on a machine busy with the whole suite.
      Array.from({ length: 200 }, (_, i) => api<InvokeReply>(stack.managerUrl, "POST", "/functions/add/invoke", { inputs: [i, 1000], deadlineMs: 45_000 }, stack.managerToken, 60_000)),
    );
    expect(calls.map((c) => c.status)).toEqual(Array(200).fill(200));
    expect(calls.map((c) => c.body.returnValues![0])).toEqual(Array.from({ length: 200 }, (_, i) => i + 1000));
    // One pool served them all (replicas 1).
    expect(new Set(calls.map((c) => c.body.propletId))).toEqual(new Set([fn.body.placements[0]!.propletId]));
    expect(calls.every((c) => c.body.outcome === "completed" && c.body.error === null)).toBe(true);

    const unknown = await stackApi<{ code: string }>("POST", "/functions/nope/invoke", { inputs: [] });
    expect(unknown.status).toBe(404);
    const badInput = await stackApi<InvokeReply>("POST", "/functions/add/invoke", { inputs: ["x"] });
    expect(badInput.status).toBe(400);
  });

  it("ends a call at its deadline with 504 and replaces the instance that ran it", async () => {
    const created = await stackApi("POST", "/functions", {
      name: "spin",
      artifact: { digest: sha256Digest(SPIN), inline: SPIN.toString("base64") },
      export: "spin",
      instances: 1,
    });
    expect(created.status).toBe(201);
    for (let i = 0; i < 2; i++) {
      const began = Date.now();
      const r = await stackApi<{ code: string }>("POST", "/functions/spin/invoke", { deadlineMs: 3000 });
      expect(r.status).toBe(504);
      expect(r.body.code).toBe("deadline_exceeded");
      expect(Date.now() - began).toBeLessThan(6000);
    }
    // A function its proplet cannot deploy (no such export) says why.
    const wrong = await stackApi("POST", "/functions", { name: "wrong", artifact: await exampleArtifact("add/add.wasm"), export: "nope" });
    expect(wrong.status).toBe(201);
    const refused = await stackApi<{ code: string; message: string }>("POST", "/functions/wrong/invoke", { deadlineMs: 10_000 });
    expect(refused.status).toBe(503);
    expect(refused.body.code).toBe("function_failed");
    expect(refused.body.message).toMatch(/nope/);
    // The other function's pool is untouched.
    const ok = await stackApi<InvokeReply>("POST", "/functions/add/invoke", { inputs: [1, 2] });
    expect(ok.body.returnValues).toEqual([3]);
  });

  it("puts the invocation topics under the broker ACL: each proplet only its own, the manager all", () => {
    const rules = aclRules("r");
    expect(rules.proplet.publish).toEqual(expect.arrayContaining(["r/proplets/{id}/functions/status", "r/proplets/{id}/functions/reply"]));
    expect(rules.proplet.subscribe).toEqual(expect.arrayContaining(["r/proplets/{id}/functions/deploy", "r/proplets/{id}/functions/invoke"]));
    expect(rules.proplet.publish).not.toContain("r/proplets/{id}/functions/invoke");
    expect(rules.manager.publish).toEqual(expect.arrayContaining(["r/proplets/+/functions/deploy", "r/proplets/+/functions/invoke"]));
    expect(rules.manager.subscribe).toEqual(expect.arrayContaining(["r/proplets/+/functions/status", "r/proplets/+/functions/reply"]));
  });
});
