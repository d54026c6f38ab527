/**
 * `propeller workflow|job|function …` through `main` as a user runs it, against a real stack
 * (embedded broker + PGlite, a real manager and two real proplets running real Wasm).
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HELP, main } from "../main.js";
import { jsonErrorPosition, loadWorkflowSpec } from "../flow-spec.js";
import { startStack, type Stack } from "../stack.js";
import { waitFor } from "../../testing/net.js";
import type { Workflow as WorkflowView } from "../../protocol/api/index.js";
import { sha256Digest } from "../../protocol/index.js";

const EXAMPLES = resolve(import.meta.dirname, "../../examples");

/** (module (func (export "spin") (loop br 0))): never returns. */
const SPIN = Buffer.from([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x07, 0x08, 0x01, 0x04, 0x73, 0x70, 0x69,
  0x6e, 0x00, 0x00, 0x0a, 0x09, 0x01, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b,
]);

/** (module (func (export "boom") unreachable)): traps. */
const TRAP = Buffer.from([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x07, 0x08, 0x01, 0x04, 0x62, 0x6f, 0x6f,
  0x6d, 0x00, 0x00, 0x0a, 0x05, 0x01, 0x03, 0x00, 0x00, 0x0b,
]);

async function cli(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (t) => void out.push(t), err: (t) => void err.push(t) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("propeller workflow, job and function", () => {
  let stack: Stack;
  let dir: string;
  let auth: string[];

  beforeAll(async () => {
    stack = await startStack({ proplets: 2, logger: pino({ level: "silent" }) });
    auth = ["--manager", stack.managerUrl, "--token", stack.managerToken];
    dir = await mkdtemp(join(tmpdir(), "flow-cli-"));
    // Modules beside the spec, so "wasm" paths are relative to the spec file, not the working directory.
    await mkdir(join(dir, "mods"));
    await copyFile(join(EXAMPLES, "hello/hello.wasm"), join(dir, "mods/hello.wasm"));
    await copyFile(join(EXAMPLES, "primes/primes.wasm"), join(dir, "mods/primes.wasm"));
    await waitFor(async () => (await aliveProplets()) === 2, 15_000, "2 proplets");
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function aliveProplets(): Promise<number> {
    const res = await fetch(`${stack.managerUrl}/proplets`, { headers: { authorization: `Bearer ${stack.managerToken}` } });
    const body = (await res.json()) as { items: Array<{ alive: boolean }> };
    return body.items.filter((p) => p.alive).length;
  }

  it("runs a diamond workflow from a spec file with wasm paths to completion; wait prints each node", async () => {
    const spec = {
      name: "diamond",
      nodes: [
        { name: "a", task: { wasm: "mods/hello.wasm", args: ["a"] } },
        { name: "b", task: { wasm: "mods/primes.wasm", args: ["1000"] }, dependsOn: ["a"] },
        { name: "c", task: { wasm: "mods/hello.wasm", args: ["c"] }, dependsOn: ["a"] },
        { name: "d", task: { wasm: "mods/hello.wasm" }, dependsOn: ["b", "c"], passResults: "stdin" },
      ],
    };
    await writeFile(join(dir, "diamond.json"), JSON.stringify(spec, null, 2));
    const created = await cli(["workflow", "create", join(dir, "diamond.json"), "--start", ...auth, "--json"]);
    expect(created.err).toBe("");
    expect(created.code).toBe(0);
    const flow = JSON.parse(created.out) as WorkflowView;
    expect(flow.kind).toBe("workflow");
    expect(flow.nodes.map((n) => n.name).sort()).toEqual(["a", "b", "c", "d"]);

    const waited = await cli(["workflow", "wait", flow.id, "--timeout", "60000", ...auth]);
    expect(waited.code).toBe(0);
    expect(waited.out).toMatch(new RegExp(`^${flow.id}\\s+completed\\s+diamond`));
    for (const name of ["a", "b", "c", "d"]) expect(waited.out).toMatch(new RegExp(`^\\s+${name}\\s+completed`, "m"));
    // Progress goes to stderr, one line per node state change.
    expect(waited.err).toMatch(/^d: completed$/m);

    // d ran after both b and c, with their output on stdin.
    const done = JSON.parse((await cli(["workflow", "get", flow.id, ...auth, "--json"])).out) as WorkflowView;
    const at = (n: string, k: "startedAt" | "finishedAt") => Date.parse(done.nodes.find((x) => x.name === n)![k]!);
    expect(at("d", "startedAt")).toBeGreaterThanOrEqual(Math.max(at("b", "finishedAt"), at("c", "finishedAt")));
    const dTask = done.nodes.find((x) => x.name === "d")!.taskId!;
    const logs = await cli(["task", "logs", dTask, ...auth]);
    expect(logs.out).toContain("168 primes up to 1000");
    expect(logs.out).toContain("Hello, c!");

    // The example in the README runs as shown.
    const example = JSON.parse((await cli(["workflow", "create", join(EXAMPLES, "workflows/diamond.json"), "--start", ...auth, "--json"])).out) as WorkflowView;
    expect((await cli(["workflow", "wait", example.id, "--timeout", "60000", ...auth])).code).toBe(0);

    const listed = await cli(["workflow", "list", "--state", "completed", ...auth]);
    expect(listed.code).toBe(0);
    expect(listed.out).toContain(flow.id);
    // A finished workflow cannot be stopped: the manager says so (409), exit 1.
    const stop = await cli(["workflow", "stop", flow.id, ...auth]);
    expect(stop.code).toBe(1);
    expect(stop.err).toMatch(/409/);
  }, 90_000);

  it("refuses a cycle with the manager's message and creates nothing", async () => {
    const spec = {
      name: "loop",
      nodes: [
        { name: "x", task: { wasm: "mods/hello.wasm" }, dependsOn: ["z"] },
        { name: "y", task: { wasm: "mods/hello.wasm" }, dependsOn: ["x"] },
        { name: "z", task: { wasm: "mods/hello.wasm" }, dependsOn: ["y"] },
      ],
    };
    await writeFile(join(dir, "loop.json"), JSON.stringify(spec));
    const r = await cli(["workflow", "create", join(dir, "loop.json"), ...auth]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/400.*cycle/);
    expect(r.err).toMatch(/x/);
    const all = JSON.parse((await cli(["workflow", "list", ...auth, "--json"])).out) as { items: WorkflowView[] };
    expect(all.items.some((w) => w.name === "loop")).toBe(false);
  });

  it("says what is wrong with bad input: missing files, bad JSON, unknown ids (exit 2)", async () => {
    const missing = await cli(["workflow", "create", join(dir, "nope.json"), ...auth]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/cannot read the workflow spec .*nope\.json: ENOENT/);

    await writeFile(join(dir, "bad.json"), '{\n  "name": "bad",\n  "nodes": [,]\n}\n');
    const badJson = await cli(["workflow", "create", join(dir, "bad.json"), ...auth]);
    expect(badJson.code).toBe(2);
    expect(badJson.err).toMatch(/bad\.json is not valid JSON: unexpected "," at line 3, column 13/);

    await writeFile(join(dir, "nowasm.json"), JSON.stringify({ name: "w", nodes: [{ name: "a", task: { wasm: "mods/gone.wasm" } }] }));
    const noWasm = await cli(["workflow", "create", join(dir, "nowasm.json"), ...auth]);
    expect(noWasm.code).toBe(2);
    expect(noWasm.err).toMatch(/node "a": cannot read .*mods\/gone\.wasm: ENOENT/);

    await writeFile(join(dir, "notwasm.json"), JSON.stringify({ name: "w", nodes: [{ name: "a", task: { wasm: "bad.json" } }] }));
    expect((await cli(["workflow", "create", join(dir, "notwasm.json"), ...auth])).err).toMatch(/not a WebAssembly module/);

    const unknown = await cli(["workflow", "get", "wf_doesnotexist", ...auth]);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/no workflow "wf_doesnotexist".*propeller workflow list/);
    expect((await cli(["job", "wait", "nope", ...auth])).code).toBe(2);
    expect((await cli(["function", "get", "nope", ...auth])).code).toBe(2);

    const noMode = await cli(["job", "create", "--name", "j", join(dir, "mods/hello.wasm"), ...auth]);
    expect(noMode.code).toBe(2);
    expect(noMode.err).toMatch(/--mode parallel or --mode sequential/);

    // A created, unstarted workflow never ends by itself: wait says to start it.
    await writeFile(join(dir, "idle.json"), JSON.stringify({ name: "idle", nodes: [{ name: "a", task: { wasm: "mods/hello.wasm" } }] }));
    const idle = JSON.parse((await cli(["workflow", "create", join(dir, "idle.json"), ...auth, "--json"])).out) as WorkflowView;
    expect(idle.state).toBe("created");
    const notStarted = await cli(["workflow", "wait", idle.id, ...auth]);
    expect(notStarted.code).toBe(1);
    expect(notStarted.err).toMatch(/not started.*propeller workflow start/);
  });

  it("runs a sequential job, one task per file, in order", async () => {
    const created = await cli(["job", "create", "--name", "seq", "--mode", "sequential", join(dir, "mods/primes.wasm"), join(dir, "mods/hello.wasm"), join(dir, "mods/hello.wasm"), ...auth, "--json"]);
    expect(created.code).toBe(0);
    const job = JSON.parse(created.out) as WorkflowView;
    expect(job.kind).toBe("job");
    expect(job.mode).toBe("sequential");
    expect(job.nodes.map((n) => n.name)).toEqual(["primes", "hello", "hello-3"]);
    expect(job.state).toBe("created");

    expect((await cli(["job", "start", job.id, ...auth])).code).toBe(0);
    const waited = await cli(["job", "wait", job.id, "--timeout", "60000", ...auth, "--json"]);
    expect(waited.code).toBe(0);
    const done = JSON.parse(waited.out) as WorkflowView;
    expect(done.state).toBe("completed");
    for (let i = 1; i < done.nodes.length; i++) {
      expect(Date.parse(done.nodes[i]!.startedAt!)).toBeGreaterThanOrEqual(Date.parse(done.nodes[i - 1]!.finishedAt!));
    }
    expect((await cli(["job", "list", ...auth])).out).toMatch(new RegExp(`${job.id}\\s+completed\\s+seq sequential, 3 nodes`));
  }, 90_000);

  it("deploys a warm function and invokes it with --input; a missed deadline says so", async () => {
    const deployed = await cli(["function", "deploy", join(EXAMPLES, "add/add.wasm"), "--name", "adder", "--export", "add", "--instances", "2", ...auth]);
    expect(deployed.err).toBe("");
    expect(deployed.code).toBe(0);
    expect(deployed.out).toMatch(/^deployed adder\s+export add\s+2 instances x 1/);

    const sum = await cli(["function", "invoke", "adder", "--input", "40", "--input", "2", "--deadline", "20000", ...auth]);
    expect(sum.err).toBe("");
    expect(sum.code).toBe(0);
    expect(sum.out).toBe("42");
    const json = JSON.parse((await cli(["function", "invoke", "adder", "--input", "-5", "--input", "3", ...auth, "--json"])).out) as { outcome: string; returnValues: number[] };
    expect(json).toMatchObject({ outcome: "completed", returnValues: [-2] });

    expect((await cli(["function", "list", ...auth])).out).toMatch(/^adder\s+export add/m);
    expect((await cli(["function", "invoke", "adder", "--input", "x", ...auth])).code).toBe(2);
    const unknown = await cli(["function", "invoke", "nobody", ...auth]);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/no function "nobody"/);

    await writeFile(join(dir, "spin.wasm"), SPIN);
    expect((await cli(["function", "deploy", join(dir, "spin.wasm"), "--name", "spin", "--export", "spin", "--instances", "1", ...auth])).code).toBe(0);
    // Warm first, so the deadline below is the call's, not the deployment's.
    await waitFor(async () => JSON.parse((await cli(["function", "get", "spin", ...auth, "--json"])).out).placements[0]?.state === "ready", 15_000, "spin warm");
    const late = await cli(["function", "invoke", "spin", "--deadline", "300", ...auth]);
    expect(late.code).toBe(1);
    expect(late.err).toMatch(/function spin did not answer within its deadline \(300 ms/);

    // A trap is a failed outcome: its error on stderr, exit 1.
    await writeFile(join(dir, "trap.wasm"), TRAP);
    expect((await cli(["function", "deploy", join(dir, "trap.wasm"), "--name", "trap", "--export", "boom", ...auth])).code).toBe(0);
    const trapped = await cli(["function", "invoke", "trap", "--deadline", "20000", ...auth]);
    expect(trapped.code).toBe(1);
    expect(trapped.out).toBe("");
    expect(trapped.err).toMatch(/function trap failed on \S+: \S+: .*unreachable/i);

    expect((await cli(["function", "delete", "adder", ...auth])).code).toBe(0);
    expect((await cli(["function", "get", "adder", ...auth])).code).toBe(2);
  }, 60_000);

  it("wait exits 1 when a node fails (its dependants skipped) and when the timeout passes first", async () => {
    const spec = {
      name: "breaks",
      nodes: [
        { name: "bad", task: { wasm: "mods/trap.wasm", entrypoint: { kind: "export", name: "boom", inputs: [] } } },
        { name: "after", task: { wasm: "mods/hello.wasm" }, dependsOn: ["bad"] },
      ],
    };
    await writeFile(join(dir, "mods/trap.wasm"), TRAP);
    await writeFile(join(dir, "breaks.json"), JSON.stringify(spec));
    const flow = JSON.parse((await cli(["workflow", "create", join(dir, "breaks.json"), "--start", ...auth, "--json"])).out) as WorkflowView;
    const waited = await cli(["workflow", "wait", flow.id, "--timeout", "60000", ...auth]);
    expect(waited.code).toBe(1);
    expect(waited.out).toMatch(new RegExp(`^${flow.id}\\s+failed`));
    expect(waited.out).toMatch(/^\s+bad\s+failed/m);
    expect(waited.out).toMatch(/^\s+after\s+skipped/m);

    // A node no proplet matches stays queued: wait gives up at --timeout, stop ends it.
    const stuck = {
      name: "stuck",
      nodes: [{ name: "waits", task: { wasm: "mods/hello.wasm", requirements: { tags: ["no-such-tag"] } } }],
    };
    await writeFile(join(dir, "stuck.json"), JSON.stringify(stuck));
    const s = JSON.parse((await cli(["workflow", "create", join(dir, "stuck.json"), "--start", ...auth, "--json"])).out) as WorkflowView;
    const started = Date.now();
    const timedOut = await cli(["workflow", "wait", s.id, "--timeout", "400", ...auth]);
    expect(timedOut.code).toBe(1);
    expect(timedOut.err).toMatch(new RegExp(`workflow ${s.id} did not finish within 400 ms \\(state running\\)`));
    expect(Date.now() - started).toBeLessThan(5_000);
    const stopped = await cli(["workflow", "stop", s.id, ...auth]);
    expect(stopped.code).toBe(0);
    expect(stopped.out).toMatch(/^stopping /);
    const after = await cli(["workflow", "wait", s.id, "--timeout", "20000", ...auth, "--json"]);
    expect(after.code).toBe(1);
    expect((JSON.parse(after.out) as WorkflowView).state).toBe("stopped");
  }, 90_000);
});

describe("workflow spec files", () => {
  it("reads a spec from stdin with wasm paths relative to the working directory", async () => {
    const spec = JSON.stringify({ name: "s", nodes: [{ name: "a", task: { wasm: "examples/hello/hello.wasm", args: ["x"] } }, { name: "b", task: { artifact: { oci: "r/x:1" } } }] });
    const saved = process.cwd();
    process.chdir(resolve(EXAMPLES, ".."));
    try {
      const body = await loadWorkflowSpec("-", async () => Buffer.from(spec));
      const nodes = body.nodes as Array<{ task: Record<string, unknown> }>;
      expect(nodes[0]!.task).toMatchObject({ args: ["x"], artifact: { digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) } });
      expect(nodes[0]!.task).not.toHaveProperty("wasm");
      // Nodes without "wasm" pass through as written.
      expect(nodes[1]!.task).toEqual({ artifact: { oci: "r/x:1" } });
    } finally {
      process.chdir(saved);
    }
    await expect(loadWorkflowSpec("-", async () => Buffer.from("[]"))).rejects.toThrow(/expected a JSON object/);
    await expect(loadWorkflowSpec("-", async () => Buffer.from('{"name":"n","nodes":[{"name":"a","task":{"wasm":"x.wasm","artifact":{}}}]}'))).rejects.toThrow(/"wasm" or "artifact", not both/);
  });

  it("reads the example spec: every node's module inline, with its digest", async () => {
    const body = await loadWorkflowSpec(join(EXAMPLES, "workflows/diamond.json"));
    const nodes = body.nodes as Array<{ name: string; task: { artifact: { digest: string; inline: string } } }>;
    expect(nodes.map((n) => n.name)).toEqual(["greet", "primes", "shout", "join"]);
    const hello = await readFile(join(EXAMPLES, "hello/hello.wasm"));
    expect(Buffer.from(nodes[0]!.task.artifact.inline, "base64").equals(hello)).toBe(true);
    expect(nodes[0]!.task.artifact.digest).toBe(sha256Digest(hello));
  });

  it("points at the first JSON mistake", () => {
    expect(jsonErrorPosition('{"a":1,}')).toBe(7);
    expect(jsonErrorPosition("[1,2")).toBe(4);
    expect(jsonErrorPosition('{"a" 1}')).toBe(5);
    expect(jsonErrorPosition("[01]")).toBe(2);
    expect(jsonErrorPosition('{"a":1} x')).toBe(8);
    expect(jsonErrorPosition('[1e5, -0.5, "\\u00e9", {"k": [true, null]}]')).toBeUndefined();
  });

  it("is in the help", () => {
    for (const line of ["workflow create <spec.json|->", "job create --name N --mode parallel|sequential", "function invoke <name>"]) expect(HELP).toContain(line);
  });
});
