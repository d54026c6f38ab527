/**
 * Live task output end to end: a real proplet streams a run's stdout/stderr as task.log while it
 * runs; GET …/logs?follow=true (Server-Sent Events) and `propeller task logs --follow` show each
 * line as it is written and end with the run. Embedded stack (aedes + PGlite).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import pino from "pino";
import wabt from "wabt";
import { startStack, type Stack } from "../../cli/stack.js";
import { ManagerClient } from "../../cli/manager-client.js";
import { main } from "../../cli/main.js";
import { EXAMPLES_DIR } from "../../testing/paths.js";
import { sha256Digest } from "../../protocol/index.js";
import type { LogChunk } from "../../protocol/api/index.js";
import { waitForProplets } from "./helpers.js";

const logger = pino({ level: process.env.PROPELLER_TEST_LOG ?? "silent" });

async function ticker(): Promise<{ digest: string; inline: string }> {
  const w = await wabt();
  const parsed = w.parseWat("ticker.wat", await readFile(join(EXAMPLES_DIR, "wat", "ticker.wat"), "utf8"));
  const bytes = Buffer.from(parsed.toBinary({}).buffer);
  parsed.destroy();
  return { digest: sha256Digest(bytes), inline: bytes.toString("base64") };
}

describe("live task output", () => {
  let stack: Stack;
  let client: ManagerClient;
  let artifact: { digest: string; inline: string };

  beforeAll(async () => {
    stack = await startStack({ proplets: 1, logger });
    client = new ManagerClient({ baseUrl: stack.managerUrl, token: stack.managerToken });
    await waitForProplets(client, 1);
    artifact = await ticker();
  });
  afterAll(async () => {
    await stack?.close();
  });

  const startTicker = async () => {
    const task = await client.createTask({ name: "ticker", artifact, start: true });
    for (;;) {
      const t = await client.getTask(task.id);
      if (t.latestRun) return { taskId: task.id, runId: t.latestRun.id };
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it("streams each line while the run runs, in order, and ends with the run's state", async () => {
    const { taskId, runId } = await startTicker();
    const seen: Array<{ chunk: LogChunk; at: number }> = [];
    const state = await client.followLogs(taskId, runId, (chunk) => seen.push({ chunk, at: Date.now() }));
    const ended = Date.now();
    expect(state).toBe("completed");
    expect(seen.map((s) => s.chunk.seq)).toEqual(seen.map((_, i) => i + 1));
    const stdout = seen.filter((s) => s.chunk.stream === "stdout").map((s) => Buffer.from(s.chunk.data, "base64").toString()).join("");
    const stderr = seen.filter((s) => s.chunk.stream === "stderr").map((s) => Buffer.from(s.chunk.data, "base64").toString()).join("");
    expect(stdout).toBe("tick\n".repeat(5));
    expect(stderr).toBe("done\n");
    // Live: the first line arrived while the run still had about 1.2 s to go.
    expect(ended - seen[0]!.at).toBeGreaterThan(700);
    // The result still carries the captured output, equal to what streamed.
    const run = await client.run(taskId, runId);
    expect(run.result?.stdout).toBe(stdout);

    // A late reader gets the stored chunks as a page; a resume after seq 3 gets the rest only.
    const list = (await (await fetch(`${stack.managerUrl}/tasks/${taskId}/runs/${runId}/logs`, { headers: { authorization: `Bearer ${stack.managerToken}` } })).json()) as { items: LogChunk[]; state: string };
    expect(list.state).toBe("completed");
    expect(list.items.map((c) => c.seq)).toEqual(seen.map((s) => s.chunk.seq));
    const resumed = await fetch(`${stack.managerUrl}/tasks/${taskId}/runs/${runId}/logs?follow=true`, { headers: { authorization: `Bearer ${stack.managerToken}`, "last-event-id": "3" } });
    expect(resumed.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const text = await resumed.text();
    const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(ids).toEqual(seen.map((s) => s.chunk.seq).filter((s) => s > 3));
    expect(text).toMatch(/^event: end\ndata: \{"state":"completed"\}$/m);
  });

  it("`propeller task logs --follow` prints the output live and exits with the run", async () => {
    const { taskId } = await startTicker();
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (t: string) => out.push(t), err: (t: string) => err.push(t), raw: (s: "stdout" | "stderr", d: Uint8Array) => (s === "stdout" ? out : err).push(Buffer.from(d).toString()) };
    const code = await main(["task", "logs", taskId, "--follow", "--manager", stack.managerUrl, "--token", stack.managerToken], io);
    expect(code).toBe(0);
    expect(out.join("")).toBe("tick\n".repeat(5));
    expect(err.join("")).toMatch(/^done\n.*completed/s);
  });

  it("answers 404 for a run that does not exist, and 401 without a credential", async () => {
    const { taskId } = await startTicker();
    const auth = { authorization: `Bearer ${stack.managerToken}` };
    expect((await fetch(`${stack.managerUrl}/tasks/${taskId}/runs/nope/logs?follow=true`, { headers: auth })).status).toBe(404);
    expect((await fetch(`${stack.managerUrl}/tasks/${taskId}/runs/nope/logs`)).status).toBe(401);
    await expect(client.followLogs(taskId, "nope", () => undefined)).rejects.toThrow(/404/);
    // Out-of-range or malformed positions are refused or ignored, never a server error.
    const t = await client.getTask(taskId);
    const runPath = `${stack.managerUrl}/tasks/${taskId}/runs/${t.latestRun!.id}/logs`;
    expect((await fetch(`${runPath}?after=99999999999`, { headers: auth })).status).toBe(400);
    expect((await fetch(`${runPath}?after=-1`, { headers: auth })).status).toBe(400);
    for (const id of ["abc", "99999999999999999999", "-5"]) {
      const r = await fetch(`${runPath}?follow=true`, { headers: { ...auth, "last-event-id": id } });
      expect(r.status, id).toBe(200);
      expect(await r.text()).toMatch(/event: end/);
    }
  });
});
