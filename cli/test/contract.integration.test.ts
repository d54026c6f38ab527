/**
 * The CLI and the manager share one REST contract (protocol/api): what the CLI decodes from a real
 * manager, and what it prints with --json, validates against the very schemas the manager's routes
 * declare; the manager serves the OpenAPI document generated from them.
 */
import { join } from "node:path";
import pino from "pino";
import { FormatRegistry, type TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as Api from "../../protocol/api/index.js";
import { sha256Digest } from "../../protocol/index.js";
import { documentedRoutes } from "../../manager/http/route-index.js";
import { EXAMPLES_DIR } from "../../testing/paths.js";
import { main } from "../main.js";
import { ManagerClient } from "../manager-client.js";
import { startStack, type Stack } from "../stack.js";
import { buildTaskBody } from "../task-spec.js";

// TypeBox checks a `format` only when one is registered: the replies' timestamps are ISO 8601.
if (!FormatRegistry.Has("date-time")) FormatRegistry.Set("date-time", (v) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v) && !Number.isNaN(Date.parse(v)));

function expectValid(schema: TSchema, value: unknown, what: string): void {
  const problems = [...Value.Errors(schema, value)].slice(0, 5).map((e) => `${e.path}: ${e.message}`);
  expect(problems, what).toEqual([]);
}

describe("one REST contract for the CLI and the manager", () => {
  let stack: Stack;
  let client: ManagerClient;

  beforeAll(async () => {
    stack = await startStack({ proplets: 1, logger: pino({ level: "silent" }) });
    client = new ManagerClient({ baseUrl: stack.managerUrl, token: stack.managerToken });
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
  });

  it("what the client decodes validates against protocol/api: tasks, runs, proplets, keys, artifacts, jobs, functions", async () => {
    const body = await buildTaskBody(join(EXAMPLES_DIR, "hello/hello.wasm"), { name: "contract", arg: ["contract"] });
    const created = await client.createTask({ ...body, start: true });
    expectValid(Api.Task, created, "POST /tasks");
    const done = await client.waitForFinish(created.id, 30_000);
    expect(done.state).toBe("completed");
    expectValid(Api.Task, done, "GET /tasks/:id");
    expectValid(Api.Run, done.latestRun, "a finished run");
    expectValid(Api.TaskList, await client.listTasks({ limit: 5 }), "GET /tasks");
    expectValid(Api.RunList, await client.runs(created.id), "GET /tasks/:id/runs");
    expectValid(Api.PropletList, await client.proplets(), "GET /proplets");
    expectValid(Api.ApiKeyCreated, await client.createApiKey("contract", ["read"]), "POST /apikeys");
    expectValid(Api.ApiKeyList, await client.listApiKeys(), "GET /apikeys");
    const bytes = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
    expectValid(Api.StoredArtifact, await client.uploadArtifact(sha256Digest(bytes), bytes), "PUT /artifacts/:digest");
    const job = await client.createFlow("job", { name: "contract-job", mode: "parallel", tasks: [{ name: "one", task: body }] });
    expectValid(Api.Workflow, job, "POST /jobs");
    expectValid(Api.WorkflowList, await client.listFlows("job"), "GET /jobs");
    expectValid(Api.FunctionList, await client.listFunctions(), "GET /functions");
  });

  it("what `propeller task get --json` prints is a protocol/api Task", async () => {
    const { items } = await client.listTasks({ limit: 1 });
    const out: string[] = [];
    const code = await main(["task", "get", items[0]!.id, "--json", "--manager", stack.managerUrl, "--token", stack.managerToken], { out: (t) => void out.push(t), err: () => {} });
    expect(code).toBe(0);
    expectValid(Api.Task, JSON.parse(out.join("\n")), "task get --json");
  });

  it("the served /openapi.json is the document generated from protocol/api's routes", async () => {
    const served = await client.request<unknown>("GET", "/openapi.json");
    expect(served).toEqual((await documentedRoutes()).openapi);
  });
});
