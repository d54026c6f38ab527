/**
 * Secrets never leave through the API or the logs: a task's secret env values reach the guest
 * (exit code and receipt prove it) but no GET of any route and no log line of the whole stack
 * (manager, proplet, broker, at trace level) contains them; nor does the manager token.
 */
import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeJwt } from "jose";
import { inputDigest } from "../../protocol/index.js";
import { startStack, type Stack } from "../../cli/stack.js";
import { ManagerClient } from "../../cli/manager-client.js";
import { exampleArtifact, waitForProplets } from "./helpers.js";

// hello exits with atoi(EXIT_CODE): 42, which proves the guest saw the value; the rest of the string
// is what must never show up anywhere.
const SECRET_EXIT = "+0000000042zQ9-exit-secret";
const SECRET_TOKEN = "sk-live-7f3c9e1d-never-log-me";

describe("secret env values", () => {
  const lines: string[] = [];
  let stack: Stack;
  let client: ManagerClient;

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    stack = await startStack({ proplets: 1, logger: pino({ level: "trace" }, sink) });
    client = new ManagerClient({ baseUrl: stack.managerUrl, token: stack.managerToken });
    await waitForProplets(client, 1);
  });
  afterAll(async () => stack?.close());

  it("are delivered to the proplet but never returned by any GET route nor logged", async () => {
    const artifact = await exampleArtifact("hello/hello.wasm");
    const created = await client.createTask({ name: "secretive", artifact, env: { GREETING: "Hi" }, secretEnv: { EXIT_CODE: SECRET_EXIT, API_TOKEN: SECRET_TOKEN }, start: true });
    expect(created.secretEnvNames).toEqual(["API_TOKEN", "EXIT_CODE"]);
    expect(created.env).toEqual({ GREETING: "Hi" });
    const done = await client.waitForFinish(created.id, 30_000);
    expect(done.latestRun!.result!.exitCode).toBe(42);
    const run = done.latestRun!;

    // The receipt covers the environment the proplet actually received: plain and secret together.
    const receipt = await client.receipt(created.id, run.id);
    expect(decodeJwt(receipt).inputDigest).toBe(
      inputDigest({ entrypoint: { kind: "wasi" }, args: [], env: { GREETING: "Hi", EXIT_CODE: SECRET_EXIT, API_TOKEN: SECRET_TOKEN }, stdin: "" }),
    );
    expect(run.receiptCheck?.ok).toBe(true);

    // A PATCH reply does not show the values either, and a name in both env and secretEnv is refused.
    const patched = await client.request<Record<string, unknown>>("PATCH", `/tasks/${created.id}`, { secretEnv: { API_TOKEN: SECRET_TOKEN } });
    expect(JSON.stringify(patched)).not.toContain(SECRET_TOKEN);
    await expect(client.request("PATCH", `/tasks/${created.id}`, { env: { API_TOKEN: "x" } })).rejects.toThrow(/both set API_TOKEN/);

    // Every GET route the server has, with this task's ids filled in.
    const gets = stack.manager.routes.filter((r) => r.method === "GET");
    expect(gets.length).toBeGreaterThanOrEqual(10);
    for (const route of gets) {
      const path = route.url.replace(":runId", run.id).replace(":id", route.url.startsWith("/proplets") ? "proplet-1" : route.url.startsWith("/apikeys") ? "x" : created.id);
      const response = await fetch(`${stack.managerUrl}${path}`, { headers: { authorization: `Bearer ${stack.managerToken}` } });
      const body = await response.text();
      expect(response.status, `GET ${path}`).toBeLessThan(500);
      for (const secret of [SECRET_EXIT, SECRET_TOKEN, stack.managerToken]) expect(body, `GET ${path}`).not.toContain(secret);
    }

    const log = lines.join("");
    // The capture works (the run was logged), and nothing secret is in it.
    expect(log).toContain(created.id);
    expect(log.length).toBeGreaterThan(1000);
    for (const secret of [SECRET_EXIT, SECRET_TOKEN, stack.managerToken, stack.managerToken.split("_")[2]!]) expect(log).not.toContain(secret);
  }, 60_000);
});
