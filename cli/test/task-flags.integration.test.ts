/**
 * `propeller run` / `propeller task create` with the task features of the REST API, through `main`
 * as a user runs them, against a real manager and proplet (machine Mosquitto + PostgreSQL) and a
 * real OCI registry: component exports with WAVE arguments, granted directories, OCI references,
 * MQTT delivery after an upload, scheduling fields, a wasi:http daemon kept up until Ctrl-C, and
 * the usage errors of bad flags (exit 2, nothing created).
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../main.js";
import type { Task as TaskView } from "../../protocol/api/index.js";
import { TEST_MQTT_URL } from "../../testing/mosquitto.js";
import { EXAMPLES_DIR } from "../../testing/paths.js";
import { startRegistry, type TestRegistry } from "../../testing/registry.js";
import { sha256Digest } from "../../protocol/index.js";
import { startDeliveryStack, type DeliveryStack } from "../../test/e2e/delivery-helpers.js";
import { E2E_ADMIN_KEY } from "../../test/e2e/helpers.js";

const ex = (relative: string) => join(EXAMPLES_DIR, relative);
const CALC = ex("components/calc/calc.wasm");
const NOTES = ex("components/notes/notes.component.wasm");
const HTTP = ex("components/hello-http/hello-http.wasm");
const HELLO = ex("hello/hello.wasm");

let registry: TestRegistry;
let stack: DeliveryStack;

beforeAll(async () => {
  registry = await startRegistry();
  stack = await startDeliveryStack({
    mqttUrl: TEST_MQTT_URL,
    manager: { delivery: { oci: { insecureRegistries: [registry.host] } } },
    proplets: [{ id: "cli-flags", oci: { insecureRegistries: [registry.host], timeoutMs: 10_000 } }],
  });
}, 120_000);

afterAll(async () => {
  await stack?.close();
  await registry?.dispose();
});

async function cli(argv: string[], withManager = true) {
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) };
  const code = await main(withManager ? [...argv, "--manager", stack.manager.url, "--token", E2E_ADMIN_KEY] : argv, io);
  return { code, out: out.join("\n"), err: err.join("\n") };
}

async function taskCount(): Promise<number> {
  return (await stack.client.listTasks({ limit: 500 })).items.length;
}

describe("propeller run / task create: task features", () => {
  it("runs a component export with --wave and prints the WAVE result", async () => {
    const add = await cli(["run", CALC, "--export", "add", "--wave", "40, 2"]);
    expect(add.err).toMatch(/returned 42/);
    expect(add.code).toBe(0);
    expect(add.out.trim()).toBe("42");

    const ok = await cli(["run", CALC, "--export", "checked-div", "--wave", "7, 2"]);
    expect(ok.out.trim()).toBe("ok(3)");

    const div = await cli(["run", CALC, "--runtime", "component", "--export", "checked-div", "--wave", "1, 0", "--json"]);
    expect(div.code).toBe(0);
    const task = JSON.parse(div.out) as TaskView;
    expect(task.runtime).toBe("component");
    expect(task.entrypoint).toEqual({ kind: "export", name: "checked-div", args: "1, 0" });
    expect(task.latestRun!.result!.returnWave).toBe('err("division by zero")');

    // A wrong argument fails the run (exit 1) with the runtime's message.
    const wrong = await cli(["run", CALC, "--export", "add", "--wave", '1, "2"']);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/invalid_inputs: argument 2 \(b\) of "add": expected s32/);
  }, 60_000);

  it("--grant-dir gives the notes component its directory; without it the open fails", async () => {
    const denied = await cli(["run", NOTES, "--runtime", "component"]);
    expect(denied.out).toContain("open failed: errno 08");
    const granted = await cli(["run", NOTES, "--runtime", "component", "--grant-dir", "/data"]);
    expect(granted.code).toBe(0);
    expect(granted.out).toContain("read back: written by notes");

    // Read-only: the write is refused (errno 69 in a component).
    const readOnly = await cli(["run", NOTES, "--runtime", "component", "--grant-dir", "/data:ro:volume=cli-notes", "--grant-host", "example.com:443", "--json"]);
    const task = JSON.parse(readOnly.out) as TaskView;
    expect(task.grants).toEqual({ dirs: [{ guest: "/data", readonly: true, volume: "cli-notes" }], hosts: ["example.com:443"] });
    expect(task.latestRun!.result!.stdout).not.toContain("read back");
  }, 60_000);

  it("--oci runs what `propeller push` stored in a real registry, pinned by the manager; --digest is checked by the proplet", async () => {
    const ref = `${registry.host}/cli/hello:1`;
    const pushed = await cli(["push", HELLO, ref, "--insecure"], false);
    expect(pushed.code).toBe(0);
    const run = await cli(["run", "--oci", ref, "from-oci", "--json"]);
    expect(run.code).toBe(0);
    const task = JSON.parse(run.out) as TaskView;
    expect(task.latestRun!.result!.stdout).toContain("from-oci");
    const { readFile } = await import("node:fs/promises");
    const digest = sha256Digest(await readFile(HELLO));
    expect(task.artifact).toMatchObject({ location: "oci", digest });
    expect((task.artifact as { reference: string }).reference).toMatch(new RegExp(`^${registry.host}/cli/hello@sha256:[0-9a-f]{64}$`));

    // With --digest the manager asks no registry; a wrong one fails the run at the proplet.
    const wrong = await cli(["run", "--oci", ref, "--digest", `sha256:${"1".repeat(64)}`]);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/digest/);
  }, 90_000);

  it("--delivery mqtt uploads the file with PUT /artifacts and the proplet gets it over MQTT", async () => {
    const run = await cli(["run", HELLO, "over-mqtt", "--delivery", "mqtt", "--json"]);
    expect(run.code).toBe(0);
    const task = JSON.parse(run.out) as TaskView;
    expect(task.artifact).toMatchObject({ location: "mqtt" });
    expect(task.latestRun!.result!.stdout).toContain("over-mqtt");

    // task create does the same; the stored artifact is reused (200).
    const created = await cli(["task", "create", HELLO, "--delivery", "mqtt", "--arg", "again", "--start", "--json"]);
    expect(created.code).toBe(0);
    const id = (JSON.parse(created.out) as TaskView).id;
    const done = await stack.client.waitForFinish(id, 30_000);
    expect(done.state).toBe("completed");
    expect(done.latestRun!.result!.stdout).toContain("again");
  }, 60_000);

  it("--priority, --retry, --cron, --broadcast appear in the created task (GET) and in `task get`'s summary", async () => {
    const created = await cli([
      "task", "create", HELLO, "--priority", "80", "--retry", "2", "--retry-backoff", "500",
      "--cron", "0 3 * * *", "--tz", "Europe/Paris", "--missed", "run-once", "--json",
    ]);
    expect(created.code).toBe(0);
    const id = (JSON.parse(created.out) as TaskView).id;
    const task = await stack.client.getTask(id);
    expect(task.priority).toBe(80);
    expect(task.retry).toMatchObject({ maxAttempts: 3, backoffMs: 500 });
    expect(task.schedule).toEqual({ cron: "0 3 * * *", timeZone: "Europe/Paris", missed: "run-once" });
    const got = await cli(["task", "get", id]);
    expect(got.code).toBe(0);
    expect(JSON.parse(got.out).priority).toBe(80);
    expect(got.err).toContain('priority 80, retry 3 attempts (backoff 500 ms');
    expect(got.err).toContain('cron "0 3 * * *" (Europe/Paris, missed run-once)');

    const broadcast = await cli(["task", "create", HELLO, "--broadcast", "--json"]);
    expect(broadcast.code).toBe(0);
    expect((await stack.client.getTask((JSON.parse(broadcast.out) as TaskView).id)).broadcast).toBe(true);
  }, 30_000);

  it("run --runtime wasi-http prints the endpoint, serves until Ctrl-C, then stops the task", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const running = main(["run", HTTP, "--runtime", "wasi-http", "--manager", stack.manager.url, "--token", E2E_ADMIN_KEY], {
      out: (t) => void out.push(t),
      err: (t) => void err.push(t),
    });
    const deadline = Date.now() + 30_000;
    while (!out.some((l) => l.startsWith("http://"))) {
      if (Date.now() > deadline) throw new Error(`no endpoint printed: ${err.join("\n")}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const url = out.find((l) => l.startsWith("http://"))!;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${url}/cli`);
    expect(await res.text()).toBe("hello from /cli\n");
    // Still serving a moment later: run does not return on its own.
    await new Promise((r) => setTimeout(r, 500));
    expect((await fetch(`${url}/still`)).status).toBe(200);

    // Ctrl-C: the handler run installed gets it (emit calls the listeners; no real signal is sent).
    process.emit("SIGINT");
    expect(await running).toBe(0);
    expect(err.join("\n")).toMatch(/stopping task .*\n.*stopped/s);
    await expect(fetch(`${url}/after`)).rejects.toThrow();
  }, 60_000);

  it("run --runtime wasi-http on a component that is no daemon fails with the runtime's error (exit 1); run --broadcast waits for the fan-out", async () => {
    const notDaemon = await cli(["run", CALC, "--runtime", "wasi-http", "--wait", "30000"]);
    expect(notDaemon.code).toBe(1);
    expect(notDaemon.err).toMatch(/run \S+ failed.*error \w+: /);

    const broadcast = await cli(["run", HELLO, "everyone", "--broadcast", "--json"]);
    expect(broadcast.code).toBe(0);
    const task = JSON.parse(broadcast.out) as TaskView;
    expect(task.broadcast).toBe(true);
    expect(task.latestRun!.result!.stdout).toContain("everyone");
  }, 60_000);

  it("bad flags and combinations: exit 2, a message naming the problem, nothing created", async () => {
    const before = await taskCount();
    const cases: Array<[string[], RegExp]> = [
      [["run", CALC, "--runtime", "wasi-p2"], /--runtime is one of wasi-p1, component, wasi-http, got "wasi-p2"/],
      [["run", CALC, "--wave", "1, 2"], /--wave .* add --export NAME/],
      [["run", CALC, "--export", "add", "--wave", "1", "--input", "2"], /--wave .* and --input .* do not go together/],
      [["run", CALC, "--runtime", "component", "--export", "add", "--input", "2"], /--input is for a core module's export .* --wave/],
      [["run", CALC, "--runtime", "wasi-p1", "--export", "add", "--wave", "1"], /--wave is for a component export/],
      [["run", HTTP, "--runtime", "wasi-http", "--export", "x"], /--export does not go with --runtime wasi-http/],
      [["run", NOTES, "--grant-dir", "data"], /--grant-dir data: the guest path must be absolute/],
      [["run", NOTES, "--grant-dir", "/a/../etc"], /the guest path must be absolute, without \. or \.\./],
      [["run", NOTES, "--grant-dir", "/data:rw"], /unknown or repeated option "rw"/],
      [["run", NOTES, "--grant-dir", "/data:volume=Bad!"], /a volume name is lower-case/],
      [["run", NOTES, "--grant-dir", "/d", "--grant-dir", "/d:ro"], /granted twice/],
      [["run", NOTES, "--grant-host", "example.com"], /--grant-host takes HOST:PORT/],
      [["run", NOTES, "--grant-host", "example.com:70000"], /--grant-host takes HOST:PORT .* 1\.\.65535/],
      [["run", HELLO, "--oci", `${registry.host}/x:1`], /a Wasm file \(.*hello.wasm\) or --oci REF, not both/],
      [["task", "create", HELLO, "--oci", `${registry.host}/x:1`], /a Wasm file or --oci REF, not both/],
      [["run", "--oci", "x:1", "--url", "https://h/x.wasm", "--digest", `sha256:${"0".repeat(64)}`], /--oci REF or --url URL, not both/],
      [["run", "--oci", "just-a-name"], /--oci takes registry\[:port\]\/repo:tag/],
      [["run", "--oci", `${registry.host}/x:1`, "--digest", "sha256:abc"], /--digest is sha256:<64 hex digits>/],
      [["run", "--oci", `${registry.host}/x:1`, "--delivery", "mqtt"], /--delivery mqtt takes a local Wasm file/],
      [["run", HELLO, "--delivery", "http"], /--delivery is mqtt/],
      [["run", HELLO, "--priority", "101"], /--priority expects a whole number 0\.\.100, got "101"/],
      [["run", HELLO, "--priority", "high"], /--priority expects a whole number/],
      [["run", HELLO, "--retry", "20"], /--retry expects a whole number 0\.\.19/],
      [["run", HELLO, "--retry-backoff", "100"], /--retry-backoff goes with --retry N/],
      [["run", HELLO, "--cron", "* * * * *"], /a --cron task runs on its schedule: create it with `propeller task create/],
      [["task", "create", HELLO, "--cron", "* * *"], /--cron takes 5 fields .* got 3/],
      [["task", "create", HELLO, "--cron", "0 3 * * *", "--tz", "Mars/Olympus"], /--tz takes an IANA time zone/],
      [["task", "create", HELLO, "--cron", "0 3 * * *", "--missed", "later"], /--missed is run-once or skip/],
      [["task", "create", HELLO, "--tz", "UTC"], /--tz and --missed go with --cron/],
      [["task", "create", HELLO, "--broadcast", "--target", "cli-flags"], /--broadcast .* does not go with --target/],
      [["task", "create", HELLO, "--broadcast", "--retry", "1"], /--broadcast does not go with --retry/],
    ];
    for (const [argv, message] of cases) {
      const r = await cli(argv);
      expect({ argv, code: r.code }).toEqual({ argv, code: 2 });
      expect(r.err).toMatch(message);
    }
    expect(await taskCount()).toBe(before);
  }, 60_000);
});
