import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildTaskBody } from "../task-spec.js";
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
});
