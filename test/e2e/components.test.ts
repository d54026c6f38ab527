/**
 * Component runtimes end to end: the real manager and a real proplet over the machine's Mosquitto
 * and a real PostgreSQL database, running real components (examples/components) through jco and
 * the preview2-shim: a preview2 command, export calls with WAVE arguments and results, the bad
 * cases (trap, missing export, wrong argument type), granted and ungranted directories, and a
 * wasi:http daemon that serves GET requests until it is stopped.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pino from "pino";
import { startStack, type Stack } from "../../cli/stack.js";
import { ManagerClient } from "../../cli/manager-client.js";
import type { Run as RunView, Task as TaskView } from "../../protocol/api/index.js";
import { createTestDatabase, type TestDatabase } from "../../testing/postgres.js";
import { TEST_MQTT_URL } from "../../testing/mosquitto.js";
import { uniqueTopicRoot } from "../../testing/net.js";
import { exampleArtifact, runToEnd, waitForProplets } from "./helpers.js";

const logger = pino({ level: process.env.PROPELLER_TEST_LOG ?? "silent" });
type Result = NonNullable<RunView["result"]> & { returnWave?: string };
const resultOf = (task: TaskView) => task.latestRun!.result as Result;

describe("component runtimes end to end (Mosquitto + PostgreSQL)", () => {
  let stack: Stack;
  let testDb: TestDatabase;
  let client: ManagerClient;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    stack = await startStack({ proplets: 1, logger, mqttUrl: TEST_MQTT_URL, databaseUrl: testDb.url, topicRoot: uniqueTopicRoot() });
    client = new ManagerClient({ baseUrl: stack.managerUrl, token: stack.managerToken });
    await waitForProplets(client, 1);
  });
  afterAll(async () => {
    await stack?.close();
    await testDb?.drop();
  });

  it("the proplet announces the three runtimes", async () => {
    const { items } = await client.request<{ items: Array<{ capabilities: { runtimes: string[] } }> }>("GET", "/proplets");
    expect(items[0]!.capabilities.runtimes).toEqual(["wasi-p1", "component", "wasi-http"]);
  });

  it("runs a preview2 command component: stdout, stderr, env, stdin", async () => {
    const task = await runToEnd(client, {
      name: "hello-p2",
      runtime: "component",
      artifact: await exampleArtifact("components/hello-p2/hello.component.wasm"),
      args: ["e2e"],
      env: { GREETING: "Hi" },
      stdin: Buffer.from("piped").toString("base64"),
    });
    expect(task.state).toBe("completed");
    const r = resultOf(task);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe("Hi, e2e!\nstdin: piped\nread 5 bytes from stdin\n");
    expect(r.stderr).toBe("hello: done\n");
  });

  it("calls exports with WAVE arguments and returns the WAVE result", async () => {
    const artifact = await exampleArtifact("components/calc/calc.wasm");
    const manhattan = await runToEnd(client, { name: "calc", runtime: "component", artifact, entrypoint: { kind: "export", name: "manhattan", args: "{x: -3, y: 4}" } });
    expect(manhattan.state).toBe("completed");
    expect(resultOf(manhattan).returnWave).toBe("7");
    const div = await runToEnd(client, { name: "calc", runtime: "component", artifact, entrypoint: { kind: "export", name: "checked-div", args: "1, 0" } });
    expect(resultOf(div).returnWave).toBe('err("division by zero")');
    const greet = await runToEnd(client, { name: "calc", runtime: "component", artifact, entrypoint: { kind: "export", name: "greet", args: '"Ada"' } });
    expect(resultOf(greet).returnWave).toBe('"Hello, Ada!"');
    expect((greet.entrypoint as { args: string }).args).toBe('"Ada"');
  });

  it("bad cases end in a clear error and the proplet keeps serving", async () => {
    const artifact = await exampleArtifact("components/calc/calc.wasm");
    const trap = await runToEnd(client, { name: "trap", runtime: "component", artifact, entrypoint: { kind: "export", name: "boom", args: "" } });
    expect(trap.state).toBe("failed");
    expect(resultOf(trap).error).toMatchObject({ code: "trap" });
    expect(resultOf(trap).error!.message).toMatch(/unreachable/);

    const missing = await runToEnd(client, { name: "missing", runtime: "component", artifact, entrypoint: { kind: "export", name: "divide", args: "1, 2" } });
    expect(resultOf(missing).error).toMatchObject({ code: "export_not_found" });
    expect(resultOf(missing).error!.message).toMatch(/no function "divide"/);

    const wrong = await runToEnd(client, { name: "wrong", runtime: "component", artifact, entrypoint: { kind: "export", name: "manhattan", args: "{x: 1, y: \"2\"}" } });
    expect(resultOf(wrong).error).toEqual({ code: "invalid_inputs", message: 'argument 1 (p) of "manhattan".y: expected s32, got a string' });

    const notComponent = await runToEnd(client, { name: "core-as-component", runtime: "component", artifact: await exampleArtifact("hello/hello.wasm") });
    expect(resultOf(notComponent).error).toMatchObject({ code: "invalid_wasm" });

    const after = await runToEnd(client, { name: "after", runtime: "component", artifact, entrypoint: { kind: "export", name: "add", args: "40, 2" } });
    expect(after.state).toBe("completed");
    expect(resultOf(after).returnWave).toBe("42");
  });

  it("a directory exists for the guest only when granted", async () => {
    const artifact = await exampleArtifact("components/notes/notes.component.wasm");
    const denied = await runToEnd(client, { name: "no-grant", runtime: "component", artifact });
    expect(resultOf(denied).stdout).toBe("open failed: errno 08\n");
    const granted = await runToEnd(client, { name: "grant", runtime: "component", artifact, grants: { dirs: [{ guest: "/data" }] } });
    expect(granted.state).toBe("completed");
    expect(resultOf(granted).stdout).toBe("read back: written by notes\n");
    expect(granted.grants).toEqual({ dirs: [{ guest: "/data" }] });
  });

  it("refuses a grant naming a host path at the API", async () => {
    const artifact = await exampleArtifact("components/notes/notes.component.wasm");
    await expect(client.createTask({ name: "bad", runtime: "component", artifact, grants: { dirs: [{ guest: "/data", host: "/etc" }] } })).rejects.toThrow(/400/);
  });

  it("serves a wasi:http daemon: the run stays running with its URL, answers GETs, and closes its port when stopped", async () => {
    const created = await client.createTask({ name: "http", runtime: "wasi-http", artifact: await exampleArtifact("components/hello-http/hello-http.wasm"), limits: { timeoutMs: 5000 }, start: true });
    let task: TaskView = created;
    const deadline = Date.now() + 30_000;
    while (!task.latestRun?.endpoint) {
      if (Date.now() > deadline) throw new Error(`no endpoint: ${JSON.stringify(task.latestRun)}`);
      if (task.latestRun?.state === "failed") throw new Error(`daemon failed: ${JSON.stringify(task.latestRun.result)}`);
      await new Promise((r) => setTimeout(r, 100));
      task = await client.getTask(created.id);
    }
    const url = task.latestRun?.endpoint ?? "";
    expect(task.state).toBe("running");
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    for (const path of ["/a", "/b?c=d"]) {
      const res = await fetch(`${url}${path}`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(`hello from ${path}\n`);
    }
    await client.stopTask(created.id);
    const stopped = await client.waitForFinish(created.id, 15_000);
    expect(stopped.state).toBe("stopped");
    expect(stopped.latestRun?.endpoint).toBeUndefined();
    await expect(fetch(`${url}/after`)).rejects.toThrow();
  });
});
