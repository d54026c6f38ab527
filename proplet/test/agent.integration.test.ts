/**
 * The proplet over real MQTT (embedded aedes), real worker threads and real Wasm, driven by a
 * scripted manager (a real MQTT client speaking the protocol).
 */
import { createServer, type Server } from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import pino from "pino";
import { startEmbeddedBroker, type EmbeddedBroker } from "../../mqtt/index.js";
import { encodeTopicMessage, sha256Digest } from "../../protocol/index.js";
import { freePort, uniqueTopicRoot, waitFor } from "../../testing/net.js";
import { startProplet, type PropletConfigInput, type RunningProplet } from "../index.js";
import { LIMITS_FOR_TESTS, example, wat } from "./helpers.js";
import { ScriptedManager } from "./scripted-manager.js";

const logger = pino({ level: "silent" });
let broker: EmbeddedBroker;
const cleanups: Array<() => Promise<unknown>> = [];
let n = 0;

beforeAll(async () => {
  broker = await startEmbeddedBroker({ logger });
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});
afterAll(async () => {
  await broker.close();
});

async function setup(over: Partial<PropletConfigInput> = {}): Promise<{ proplet: RunningProplet; manager: ScriptedManager; id: string }> {
  const topicRoot = uniqueTopicRoot();
  const manager = await ScriptedManager.connect(broker.url, topicRoot);
  cleanups.push(() => manager.close());
  const id = `p${++n}-${Date.now().toString(36)}`;
  const proplet = await startProplet({ id, mqtt: { url: broker.url }, topicRoot, logger, heartbeatIntervalMs: 200, maxConcurrency: 2, ...over });
  cleanups.push(() => proplet.close());
  return { proplet, manager, id };
}

const b64 = (s: string) => Buffer.from(s).toString("base64");
const text = (s: string) => Buffer.from(s, "base64").toString("utf8");

describe("proplet agent", () => {
  it("announces itself (status online, capabilities) and sends heartbeats with its load", async () => {
    const { manager, id } = await setup({ name: "edge box", tags: ["edge", "arm"], memoryBytes: 512 * 1024 * 1024, maxConcurrency: 3 });
    const status = await manager.next("status", id);
    expect(status.state).toBe("online");
    const announce = await manager.next("announce", id);
    expect(announce.name).toBe("edge box");
    expect(announce.capabilities).toEqual({
      runtimes: ["wasi-p1", "component", "wasi-http"],
      artifactSources: ["inline", "http", "oci", "mqtt"],
      memoryBytes: 512 * 1024 * 1024,
      maxConcurrency: 3,
      tee: null,
      tags: ["edge", "arm"],
    });
    expect(announce.running).toEqual([]);
    await waitFor(() => manager.of("heartbeat", id).length >= 2, 5000, "two heartbeats");
    const beat = manager.of("heartbeat", id)[0]!;
    expect(beat.load).toEqual({ running: 0, maxConcurrency: 3 });
    expect(beat.intervalMs).toBe(200);

    // a running run shows in heartbeats and in a re-announce (control reannounce)
    const loop = await manager.start(id, await wat("loop"));
    await manager.next("heartbeat", id, (h) => h.running.some((r) => r.runId === loop.runId));
    const before = manager.of("announce", id).length;
    await manager.send(id, "control", { kind: "proplet.control", propletId: id, action: "reannounce" });
    const again = await waitFor(() => manager.of("announce", id)[before], 5000, "a second announce");
    expect(again.running).toEqual([{ taskId: loop.taskId, runId: loop.runId }]);
    const beat2 = manager.of("heartbeat", id, (h) => h.running.length === 1)[0]!;
    expect(beat2.load.running).toBe(1);
    expect(beat2.freeMemoryBytes).toBe(512 * 1024 * 1024 - LIMITS_FOR_TESTS.memoryBytes);
  });

  it("runs hello with args, env and stdin: accepted, then a result with stdout, stderr and the exit code", async () => {
    const { manager, id } = await setup();
    const start = await manager.start(id, await example("hello/hello.wasm"), { args: ["proplet"], env: { GREETING: "Hi", EXIT_CODE: "3" }, stdin: b64("over MQTT") });
    const accepted = await manager.next("tasks/accepted", id, (m) => m.runId === start.runId);
    expect(accepted.taskId).toBe(start.taskId);
    const result = await manager.result(id, start.runId);
    expect(result.outcome).toBe("completed");
    expect(result.exitCode).toBe(3);
    expect(text(result.stdout)).toBe("Hi, proplet!\nstdin: over MQTT\nread 9 bytes from stdin\n");
    expect(text(result.stderr)).toBe("hello: done\n");
    expect(result.error).toBeNull();
    expect(result.startedAt).not.toBeNull();
    expect(Date.parse(result.finishedAt)).toBeGreaterThanOrEqual(Date.parse(result.startedAt!));
    // the result continues the start's trace (same trace id, its own span)
    expect(result.traceparent.slice(0, 35)).toBe(start.traceparent.slice(0, 35));
    expect(result.traceparent).not.toBe(start.traceparent);
  });

  it("calls an export with inputs and returns its values (i32 and i64)", async () => {
    const { manager, id } = await setup();
    const add = await example("add/add.wasm");
    const a = await manager.start(id, add, { entrypoint: { kind: "export", name: "add", inputs: [40, 2] } });
    const f = await manager.start(id, add, { entrypoint: { kind: "export", name: "fib", inputs: ["92"] } });
    expect((await manager.result(id, a.runId)).returnValues).toEqual([42]);
    const fib = await manager.result(id, f.runId);
    expect(fib.returnValues).toEqual(["7540113804746346429"]);
    expect(fib.exitCode).toBeNull();
  });

  describe("each bad input ends in a clear failed result, and the proplet keeps serving", () => {
    let server: Server;
    let base: string;
    beforeAll(async () => {
      const hello = await example("hello/hello.wasm");
      const addBytes = await example("add/add.wasm");
      server = createServer((req, res) => {
        if (req.url === "/hello.wasm") return res.end(Buffer.from(hello));
        if (req.url === "/add.wasm") return res.end(Buffer.from(addBytes));
        if (req.url === "/slow.wasm") {
          res.writeHead(200);
          res.write(Buffer.from(hello.subarray(0, 10)));
          return; // and then nothing
        }
        res.writeHead(404).end();
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
      const address = server.address();
      base = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    });

    it("invalid Wasm, wrong digest, oversized (inline, http), unreachable, slow, trap, timeout, memory, output", async () => {
      const { manager, id, proplet } = await setup({ artifactMaxBytes: 20_000, httpTimeoutMs: 2000, maxConcurrency: 1 });
      const add = await example("add/add.wasm");
      const hello = await example("hello/hello.wasm"); // 30 KB: over this proplet's 20 KB cap
      const notWasm = Buffer.from("definitely not wasm");
      const unreachable = `http://127.0.0.1:${await freePort()}/x.wasm`;
      const cases: Array<{ what: string; start: Parameters<ScriptedManager["start"]>; code: string; message?: RegExp; check?: (r: Awaited<ReturnType<ScriptedManager["result"]>>) => void }> = [
        { what: "invalid wasm", start: [id, notWasm], code: "invalid_wasm" },
        { what: "wrong digest", start: [id, add, { artifact: { digest: sha256Digest("something else"), location: { kind: "inline", data: Buffer.from(add).toString("base64") } } }], code: "digest_mismatch" },
        { what: "inline too large", start: [id, hello], code: "artifact_too_large" },
        { what: "http too large", start: [id, hello, { artifact: { digest: sha256Digest(hello), location: { kind: "http", url: `${base}/hello.wasm` } } }], code: "artifact_too_large" },
        { what: "http unreachable", start: [id, add, { artifact: { digest: sha256Digest(add), location: { kind: "http", url: unreachable } } }], code: "artifact_unreachable", message: /ECONNREFUSED/ },
        { what: "http 404", start: [id, add, { artifact: { digest: sha256Digest(add), location: { kind: "http", url: `${base}/missing.wasm` } } }], code: "artifact_http_status", message: /404/ },
        { what: "http slow", start: [id, add, { artifact: { digest: sha256Digest(add), location: { kind: "http", url: `${base}/slow.wasm` } } }], code: "artifact_timeout" },
        { what: "oci", start: [id, add, { artifact: { digest: sha256Digest(add), location: { kind: "oci", reference: "localhost/add:1" } } }], code: "oci_unreachable" },
        { what: "trap", start: [id, await wat("trap")], code: "trap", message: /unreachable/, check: (r) => expect(text(r.stdout)).toBe("before the trap\n") },
        { what: "infinite loop", start: [id, await wat("loop"), { limits: { ...LIMITS_FOR_TESTS, timeoutMs: 1000 } }], code: "timeout" },
        { what: "memory over the cap at start", start: [id, await wat("big-initial"), { limits: { ...LIMITS_FOR_TESTS, memoryBytes: 1024 * 1024 } }], code: "memory_limit" },
        { what: "more memory than the proplet offers", start: [id, add, { limits: { ...LIMITS_FOR_TESTS, memoryBytes: 2 * 1024 * 1024 * 1024 } }], code: "insufficient_memory" },
        { what: "stack exhaustion", start: [id, await wat("recurse")], code: "trap" },
        { what: "missing export", start: [id, add, { entrypoint: { kind: "export", name: "nope", inputs: [] } }], code: "export_not_found" },
      ];
      for (const c of cases) {
        const start = await manager.start(...c.start);
        const r = await manager.result(id, start.runId);
        expect(r.outcome, c.what).toBe("failed");
        expect(r.error?.code, c.what).toBe(c.code);
        if (c.message) expect(r.error?.message, c.what).toMatch(c.message);
        c.check?.(r);
        await manager.ack(id, start.taskId, start.runId);
      }

      // memory.grow past the cap fails inside the guest (returns -1); the run itself completes
      const grow = await manager.start(id, await wat("grow"), { entrypoint: { kind: "export", name: "grow_all", inputs: [] }, limits: { ...LIMITS_FOR_TESTS, memoryBytes: 4 * 1024 * 1024 } });
      expect((await manager.result(id, grow.runId)).returnValues).toEqual([64]);
      // output over the cap is cut and flagged
      const spew = await manager.start(id, await wat("spew"), { limits: { ...LIMITS_FOR_TESTS, outputBytes: 4096 } });
      const spewed = await manager.result(id, spew.runId);
      expect(spewed.outcome).toBe("completed");
      expect(Buffer.from(spewed.stdout, "base64").byteLength).toBe(4096);
      expect(spewed.stdoutTruncated).toBe(true);

      // and it still serves (this time fetching the module over HTTP)
      const after = await manager.start(id, add, { entrypoint: { kind: "export", name: "add", inputs: [1, 2] }, artifact: { digest: sha256Digest(add), location: { kind: "http", url: `${base}/add.wasm` } } });
      expect((await manager.result(id, after.runId)).returnValues).toEqual([3]);
      expect(proplet.counters().invalidMessages).toBe(0);
    });
  });

  it("enforces maxConcurrency: a start beyond capacity is not accepted; its redelivery runs once there is room", async () => {
    const { manager, id, proplet } = await setup({ maxConcurrency: 1 });
    const loop = await manager.start(id, await wat("loop"));
    await manager.next("tasks/accepted", id, (m) => m.runId === loop.runId);
    const add = await example("add/add.wasm");
    const second = await manager.start(id, add, { entrypoint: { kind: "export", name: "add", inputs: [2, 2] } });
    await waitFor(() => proplet.counters().busyRefusals === 1, 5000, "a busy refusal");
    await new Promise((r) => setTimeout(r, 300));
    expect(manager.of("tasks/accepted", id, (m) => m.runId === second.runId)).toHaveLength(0);
    expect(manager.of("tasks/result", id, (m) => m.runId === second.runId)).toHaveLength(0);

    await manager.stop(id, loop.taskId, loop.runId);
    expect((await manager.result(id, loop.runId)).outcome).toBe("stopped");
    // the manager's redelivery: same run, new message id
    await manager.start(id, add, { ...second });
    expect((await manager.result(id, second.runId)).returnValues).toEqual([4]);
  });

  it("never runs the same run twice: repeats re-accept, re-send the result, or are ignored once acknowledged", async () => {
    const { manager, id, proplet } = await setup();
    const primes = await example("primes/primes.wasm");
    const first = await manager.start(id, primes, { args: ["1000000"] });
    await manager.next("tasks/accepted", id, (m) => m.runId === first.runId);
    await manager.start(id, primes, { ...first }); // redelivered while running
    await waitFor(() => manager.of("tasks/accepted", id, (m) => m.runId === first.runId).length === 2, 5000, "a second accepted");
    const result = await manager.result(id, first.runId);
    expect(text(result.stdout)).toBe("78498 primes up to 1000000\n");
    expect(proplet.counters().runsStarted).toBe(1);

    await manager.start(id, primes, { ...first }); // redelivered after it finished
    await waitFor(() => manager.of("tasks/result", id, (m) => m.runId === first.runId).length >= 2, 5000, "the result again");
    const copies = manager.of("tasks/result", id, (m) => m.runId === first.runId);
    expect(copies[1]!.stdout).toBe(copies[0]!.stdout);
    expect(copies[1]!.messageId).not.toBe(copies[0]!.messageId);

    await manager.ack(id, first.taskId, first.runId);
    await new Promise((r) => setTimeout(r, 200));
    const count = manager.of("tasks/result", id, (m) => m.runId === first.runId).length;
    await manager.start(id, primes, { ...first }); // after the ack: ignored
    await new Promise((r) => setTimeout(r, 500));
    expect(manager.of("tasks/result", id, (m) => m.runId === first.runId)).toHaveLength(count);
    expect(proplet.counters().runsStarted).toBe(1);

    // the very same message (same messageId) delivered twice counts as a duplicate
    const stop = { kind: "task.stop" as const, propletId: id, taskId: "t-x", runId: "r-x", reason: "x" };
    const payload = encodeTopicMessage("tasks/stop", stop);
    await manager.raw(id, "tasks/stop", payload);
    await manager.raw(id, "tasks/stop", payload);
    await waitFor(() => proplet.counters().duplicateMessages === 1, 5000, "a duplicate");
  });

  it("stops a run on task.stop (outcome stopped); a stop for an unknown run answers stopped too", async () => {
    const { manager, id } = await setup();
    const loop = await manager.start(id, await wat("loop"));
    await manager.next("tasks/accepted", id, (m) => m.runId === loop.runId);
    const t0 = Date.now();
    await manager.stop(id, loop.taskId, loop.runId, "user asked");
    const r = await manager.result(id, loop.runId);
    expect(Date.now() - t0).toBeLessThan(10_000); // the loop itself would run until its 20 s timeout
    expect(r.outcome).toBe("stopped");
    expect(r.error).toEqual({ code: "stopped", message: "user asked" });

    await manager.stop(id, "task-unknown", "run-unknown");
    const u = await manager.result(id, "run-unknown");
    expect(u.outcome).toBe("stopped");
    expect(u.startedAt).toBeNull();
  });

  it("resends a result until the manager acknowledges it (PUBACK is not delivery)", async () => {
    const { manager, id } = await setup({ resultResendMs: 200 });
    const add = await example("add/add.wasm");
    const run = await manager.start(id, add, { entrypoint: { kind: "export", name: "add", inputs: [5, 5] } });
    await manager.result(id, run.runId);
    // no ack: resent on a backoff (200, 400, 800 ms …)
    await waitFor(() => manager.of("tasks/result", id, (m) => m.runId === run.runId).length >= 3, 5000, "three copies");
    // manager.online: resent at once, with a new announce
    const copies = manager.of("tasks/result", id, (m) => m.runId === run.runId).length;
    const announces = manager.of("announce", id).length;
    await manager.online();
    await waitFor(() => manager.of("announce", id).length > announces, 3000, "a re-announce");
    await waitFor(() => manager.of("tasks/result", id, (m) => m.runId === run.runId).length > copies, 3000, "a resend after manager.online");
    // ack: no more
    await manager.ack(id, run.taskId, run.runId);
    await new Promise((r) => setTimeout(r, 300));
    const settled = manager.of("tasks/result", id, (m) => m.runId === run.runId).length;
    await new Promise((r) => setTimeout(r, 2000));
    expect(manager.of("tasks/result", id, (m) => m.runId === run.runId)).toHaveLength(settled);
    await manager.online();
    await new Promise((r) => setTimeout(r, 500));
    expect(manager.of("tasks/result", id, (m) => m.runId === run.runId)).toHaveLength(settled);
  });

  it("counts and drops malformed messages, and keeps serving", async () => {
    const { manager, id, proplet } = await setup();
    await manager.next("announce", id);
    await manager.raw(id, "tasks/start", "this is not JSON");
    await manager.raw(id, "tasks/start", JSON.stringify({ kind: "task.start", hello: "world" }));
    const add = await example("add/add.wasm");
    // a valid message naming another proplet, on our topic
    await manager.raw(id, "tasks/result-ack", encodeTopicMessage("tasks/result-ack", { kind: "task.result-ack", propletId: "someone-else", taskId: "t", runId: "r" }));
    await manager.raw(id, "control", JSON.stringify({ version: 2 }));
    await waitFor(() => proplet.counters().invalidMessages === 4, 5000, "four invalid messages");
    const run = await manager.start(id, add, { entrypoint: { kind: "export", name: "add", inputs: [1, 1] } });
    expect((await manager.result(id, run.runId)).returnValues).toEqual([2]);
  });

  it("refuses a bad configuration with one clear message per problem", async () => {
    await expect(startProplet({ id: "bad/id", mqtt: { url: "http://x" }, maxConcurrency: 0, logger })).rejects.toThrow(
      /id must match.*mqtt\.url must be.*maxConcurrency must be an integer from 1/,
    );
  });
});
