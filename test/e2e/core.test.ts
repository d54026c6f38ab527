/**
 * The orchestrator core end to end: real manager + real proplets (worker threads running real Wasm)
 * over a real broker and a real database, in both deployments:
 *   embedded — aedes in process + PGlite;
 *   services — the machine's Mosquitto + PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pino from "pino";
import { startStack, type Stack } from "../../cli/stack.js";
import { ManagerClient } from "../../cli/manager-client.js";
import { main } from "../../cli/main.js";
import { createTestDatabase, type TestDatabase } from "../../testing/postgres.js";
import { TEST_MQTT_URL } from "../../testing/mosquitto.js";
import { uniqueTopicRoot } from "../../testing/net.js";
import { EXAMPLES_DIR } from "../../testing/paths.js";
import { exampleArtifact, runToEnd, waitForProplets } from "./helpers.js";

const logger = pino({ level: process.env.PROPELLER_TEST_LOG ?? "silent" });

for (const deployment of ["embedded", "services"] as const) {
  describe(`core end to end (${deployment})`, () => {
    let stack: Stack;
    let testDb: TestDatabase | undefined;
    let client: ManagerClient;

    beforeAll(async () => {
      if (deployment === "services") {
        testDb = await createTestDatabase();
        stack = await startStack({ proplets: 2, logger, mqttUrl: TEST_MQTT_URL, databaseUrl: testDb.url, topicRoot: uniqueTopicRoot() });
      } else {
        stack = await startStack({ proplets: 2, logger });
      }
      client = new ManagerClient({ baseUrl: stack.managerUrl, token: stack.managerToken });
      await waitForProplets(client, 2);
    });
    afterAll(async () => {
      await stack?.close();
      await testDb?.drop();
    });

    it("runs a WASI command with args, env and stdin and records its output", async () => {
      const task = await runToEnd(client, {
        name: "hello",
        artifact: await exampleArtifact("hello/hello.wasm"),
        args: ["e2e"],
        env: { GREETING: "Hi" },
        stdin: Buffer.from("piped input").toString("base64"),
      });
      expect(task.state).toBe("completed");
      const result = task.latestRun!.result!;
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toContain("e2e");
      expect(result.stdout).toContain("piped input");
      expect(result.error).toBeNull();
    });

    it("calls a named export with numeric arguments", async () => {
      const task = await runToEnd(client, {
        name: "add",
        artifact: await exampleArtifact("add/add.wasm"),
        entrypoint: { kind: "export", name: "add", inputs: [20, 22] },
      });
      expect(task.state).toBe("completed");
      expect(task.latestRun!.result!.returnValues).toEqual([42]);
    });

    it("answers a submission with ?wait= once the task settled, and a read with ?wait= at the deadline when it cannot", async () => {
      const api = (method: string, path: string, body?: unknown) =>
        fetch(`${stack.managerUrl}${path}`, {
          method,
          headers: { authorization: `Bearer ${stack.managerToken}`, ...(body ? { "content-type": "application/json" } : {}) },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });
      const artifact = await exampleArtifact("add/add.wasm");
      const r = await api("POST", "/tasks?wait=30000", { name: "wait-add", artifact, entrypoint: { kind: "export", name: "add", inputs: [2, 3] }, start: true });
      expect(r.status).toBe(201);
      const settled = (await r.json()) as { id: string; state: string; latestRun: { result: { returnValues: number[] } } };
      expect(settled.state).toBe("completed");
      expect(settled.latestRun.result.returnValues).toEqual([5]);
      // No proplet offers this tag: the read waits its full 300 ms and answers pending.
      const stuck = (await (await api("POST", "/tasks", { name: "wait-stuck", artifact, requirements: { tags: ["nowhere"] }, start: true })).json()) as { id: string };
      const began = Date.now();
      const read = await api("GET", `/tasks/${stuck.id}?wait=300`);
      expect(Date.now() - began).toBeGreaterThanOrEqual(290);
      expect(((await read.json()) as { state: string }).state).toBe("pending");
      expect((await api("GET", `/tasks/${stuck.id}?wait=600001`)).status).toBe(400);
      await api("DELETE", `/tasks/${stuck.id}?force=true`);
    });

    it("keeps every run: a re-run gets a new run id and the first stays in the history", async () => {
      const first = await runToEnd(client, { name: "rerun", artifact: await exampleArtifact("primes/primes.wasm"), args: ["1000"] });
      expect(first.state).toBe("completed");
      await client.startTask(first.id);
      const second = await client.waitForFinish(first.id, 30_000);
      expect(second.latestRun!.id).not.toBe(first.latestRun!.id);
      const { items } = await client.runs(first.id);
      expect(items.map((r) => r.id).sort()).toEqual([first.latestRun!.id, second.latestRun!.id].sort());
      expect(items.every((r) => r.state === "completed" && r.result!.stdout.includes("168"))).toBe(true);
    });

    it("fails bad workloads with a clear error and keeps serving", async () => {
      const junk = Buffer.from("definitely not wasm");
      const { sha256Digest } = await import("../../protocol/index.js");
      const invalid = await runToEnd(client, { name: "junk", artifact: { digest: sha256Digest(junk), inline: junk.toString("base64") } });
      expect(invalid.state).toBe("failed");
      expect(invalid.latestRun!.result!.error!.code).toBe("invalid_wasm");

      const unreachable = await runToEnd(client, {
        name: "unreachable",
        artifact: { digest: sha256Digest(junk), url: "http://127.0.0.1:9/nothing.wasm" },
      });
      expect(unreachable.state).toBe("failed");
      expect(unreachable.latestRun!.result!.error!.message).toMatch(/127\.0\.0\.1:9|ECONNREFUSED|unreachable|fetch/i);

      const after = await runToEnd(client, { name: "after", artifact: await exampleArtifact("add/add.wasm"), entrypoint: { kind: "export", name: "add", inputs: [1, 1] } });
      expect(after.latestRun!.result!.returnValues).toEqual([2]);
    });

    it("waits in pending while no proplet fits, with the reason visible", async () => {
      const created = await client.createTask({
        name: "needs-gpu",
        artifact: await exampleArtifact("add/add.wasm"),
        entrypoint: { kind: "export", name: "add", inputs: [1, 2] },
        requirements: { tags: ["gpu"] },
        start: true,
      });
      await new Promise((r) => setTimeout(r, 500));
      const task = await client.getTask(created.id);
      expect(task.state).toBe("pending");
      expect(task.pendingReason).toMatch(/gpu/);
    });

    it("serves the CLI: propeller run prints the guest's output and returns its exit code", async () => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await main(
        ["run", `${EXAMPLES_DIR}/hello/hello.wasm`, "--manager", stack.managerUrl, "--token", stack.managerToken, "--env", "GREETING=Hey", "cli-arg"],
        { out: (t) => void out.push(t), err: (t) => void err.push(t) },
      );
      expect(code).toBe(0);
      expect(out.join("")).toContain("cli-arg");
      expect(err.join("")).toMatch(/completed/);
    });
  });
}
