/**
 * No ambient authority, for both runtimes: a guest reaches a directory only when the task grants
 * one, the host side is always inside the proplet's work directory, read-only means read-only,
 * and a refused access is a clear error in the run's output while the runtime keeps serving.
 * Guest: examples/components/notes (writes and reads back note.txt in the first granted directory).
 */
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ComponentRuntime } from "../execute/component/runtime.js";
import { WasiP1Runtime } from "../execute/wasi-p1/runtime.js";
import type { RunRequest } from "../execute/runtime.js";
import { LIMITS_FOR_TESTS, example, text } from "./helpers.js";

let workDir: string;
let p1: WasiP1Runtime;
let component: ComponentRuntime;
let core: Uint8Array;
let wrapped: Uint8Array;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), "propeller-grants-"));
  p1 = new WasiP1Runtime({ workDir });
  component = new ComponentRuntime({ kind: "component", workDir });
  core = await example("components/notes/notes.wasm");
  wrapped = await example("components/notes/notes.component.wasm");
});
afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

function request(module: Uint8Array, over: Partial<RunRequest> = {}): RunRequest {
  return { runId: "g1", module, entrypoint: { kind: "wasi" }, args: [], env: {}, stdin: new Uint8Array(), limits: LIMITS_FOR_TESTS, signal: new AbortController().signal, ...over };
}

describe.each([
  ["wasi-p1", () => p1, () => core],
  ["component", () => component, () => wrapped],
] as const)("%s: directories", (name, runtime, module) => {
  it("without a grant the guest sees no filesystem: its open fails (bad descriptor)", async () => {
    const r = await runtime().run(request(module(), { runId: `${name}-none` }));
    expect(r.outcome).toBe("completed");
    expect(r.exitCode).toBe(1);
    expect(text(r.stdout)).toBe("open failed: errno 08\n");
  });

  it("a granted directory is a fresh one inside the work directory, removed after the run", async () => {
    const r = await runtime().run(request(module(), { runId: `${name}-scratch`, grants: { dirs: [{ guest: "/data" }] } }));
    expect(r.error).toBeNull();
    expect(text(r.stdout)).toBe("read back: written by notes\n");
    expect(r.exitCode).toBe(0);
    expect(await readdir(join(workDir, "runs"))).not.toContain(`${name}-scratch`);
  });

  it("a named volume keeps its files between runs", async () => {
    const r = await runtime().run(request(module(), { runId: `${name}-vol`, grants: { dirs: [{ guest: "/notes", volume: `vol-${name}` }] } }));
    expect(text(r.stdout)).toBe("read back: written by notes\n");
    expect(await readFile(join(workDir, "volumes", `vol-${name}`, "note.txt"), "utf8")).toBe("written by notes\n");
  });
});

describe("read-only and unsupported grants", () => {
  it("component: a read-only directory refuses the write (errno 69, read-only file system)", async () => {
    const r = await component.run(request(wrapped, { runId: "ro", grants: { dirs: [{ guest: "/data", readonly: true, volume: "ro" }] } }));
    expect(r.outcome).toBe("completed");
    expect(text(r.stdout)).toBe("open failed: errno 69\n");
    expect(await readdir(join(workDir, "volumes", "ro"))).toEqual([]);
  });

  it("wasi-p1 refuses what it cannot enforce (read-only directories, hosts) with invalid_grants", async () => {
    const ro = await p1.run(request(core, { grants: { dirs: [{ guest: "/data", readonly: true }] } }));
    expect(ro.error!.code).toBe("invalid_grants");
    expect(ro.error!.message).toMatch(/read-only/);
    const net = await p1.run(request(core, { grants: { hosts: ["example.com:443"] } }));
    expect(net.error!.code).toBe("invalid_grants");
    expect(net.error!.message).toMatch(/no network/);
  });

  it("guest paths with .. and duplicates are refused", async () => {
    const dots = await component.run(request(wrapped, { grants: { dirs: [{ guest: "/a/../etc" }] } }));
    expect(dots.error!.code).toBe("invalid_grants");
    const twice = await component.run(request(wrapped, { grants: { dirs: [{ guest: "/a" }, { guest: "/a" }] } }));
    expect(twice.error!.message).toMatch(/granted twice/);
  });
});
