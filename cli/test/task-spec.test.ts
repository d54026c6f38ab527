import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildTaskBody, prepareTask } from "../task-spec.js";
import { UsageError } from "../errors.js";
import { sha256Digest } from "../../protocol/index.js";

const D = `sha256:${"0".repeat(64)}`;

describe("buildTaskBody", () => {
  it("inlines a Wasm file with its digest and maps flags onto the TaskCreate body", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cli-"));
    const wasm = join(dir, "x.wasm");
    const stdin = join(dir, "in.txt");
    await writeFile(wasm, Buffer.from([0, 97, 115, 109, 1, 0, 0, 0]));
    await writeFile(stdin, "input");
    const body = await buildTaskBody(wasm, {
      arg: ["a"],
      env: ["K=v=w"],
      stdin,
      timeout: "500",
      export: "add",
      input: ["1", "-2", "3.5", "9007199254740993"],
      tag: ["edge"],
      target: "p1",
    }, ["b"]);
    expect(body).toEqual({
      name: "x.wasm",
      artifact: { digest: sha256Digest(Buffer.from([0, 97, 115, 109, 1, 0, 0, 0])), inline: "AGFzbQEAAAA=" },
      args: ["a", "b"],
      env: { K: "v=w" },
      entrypoint: { kind: "export", name: "add", inputs: [1, -2, 3.5, "9007199254740993"] },
      stdin: Buffer.from("input").toString("base64"),
      limits: { timeoutMs: 500 },
      target: "p1",
      requirements: { tags: ["edge"] },
    });
  });

  it("refuses contradictory or malformed flags with a usage error", async () => {
    await expect(buildTaskBody(undefined, {})).rejects.toThrow(UsageError);
    await expect(buildTaskBody(undefined, { url: "https://x/y.wasm" })).rejects.toThrow(/--digest/);
    await expect(buildTaskBody("/nonexistent.wasm", {})).rejects.toThrow(/cannot read/);
    await expect(buildTaskBody(undefined, { url: "https://x/y.wasm", digest: D, env: ["NOEQUALS"] })).rejects.toThrow(/NAME=VALUE/);
    await expect(buildTaskBody(undefined, { url: "https://x/y.wasm", digest: D, timeout: "-1" })).rejects.toThrow(/positive whole number/);
    await expect(buildTaskBody(undefined, { url: "https://x/y.wasm", digest: D, input: ["1"] })).rejects.toThrow(/--export/);
    await expect(buildTaskBody(undefined, { url: "https://x/y.wasm", digest: D, export: "f", input: ["abc"] })).rejects.toThrow(/number/);
  });

  it("maps the task-feature flags onto the body; --delivery mqtt returns the bytes to upload instead of inlining them", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cli-"));
    const wasm = join(dir, "c.wasm");
    const bytes = Buffer.from([0, 97, 115, 109, 13, 0, 1, 0]);
    await writeFile(wasm, bytes);
    const { body, upload } = await prepareTask(wasm, {
      export: "greet",
      wave: '"Ada"',
      "grant-dir": ["/data", "/in:ro:volume=inputs"],
      "grant-host": ["api.example.com:443"],
      delivery: "mqtt",
      priority: "0",
      retry: "0",
      "retry-backoff": "0",
      cron: " */5 * * * * ",
      missed: "skip",
    });
    expect(upload).toEqual({ digest: sha256Digest(bytes), bytes });
    expect(body).toMatchObject({
      artifact: { digest: sha256Digest(bytes), delivery: "mqtt" },
      runtime: "component",
      entrypoint: { kind: "export", name: "greet", args: '"Ada"' },
      grants: { dirs: [{ guest: "/data" }, { guest: "/in", readonly: true, volume: "inputs" }], hosts: ["api.example.com:443"] },
      priority: 0,
      retry: { maxAttempts: 1, backoffMs: 0 },
      schedule: { cron: "*/5 * * * *", missed: "skip" },
    });
    expect((body.artifact as Record<string, unknown>).inline).toBeUndefined();
    // Without --delivery nothing is uploaded; an OCI reference names the artifact alone.
    expect((await prepareTask(wasm, {})).upload).toBeNull();
    expect((await prepareTask(undefined, { oci: "reg:5000/apps/x:1" })).body).toMatchObject({ name: "x", artifact: { oci: "reg:5000/apps/x:1" } });
    // A component export without --wave calls a function without arguments.
    expect((await buildTaskBody(wasm, { runtime: "component", export: "boom" })).entrypoint).toEqual({ kind: "export", name: "boom", args: "" });
  });
});
