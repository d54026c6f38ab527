/**
 * Tracing end to end: a real stack (cli/stack.ts: embedded broker, manager on real
 * PostgreSQL, a development KBS, proplets with the sample TEE) with the OTLP/HTTP exporter pointed
 * at an in-test receiver. One confidential run, driven by the CLI as a user would, must come back
 * as one trace: REST request → task created → run queued → scheduled → task.start published →
 * proplet received → artifact fetched → key released by the KBS (its spans joined through the
 * HTTP traceparent header) → decrypted → run → result published → receipt verified → stored.
 * Every parent is in the trace (nothing dropped) and no attribute holds a secret.
 *
 * Tracing is process-wide, so it starts before the stack's modules are imported (as
 * `propeller up` does), and the stack is imported afterwards (so the pg instrumentation's ESM
 * hook sees `pg`).
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from "../../testing/otlp.js";
import { ATTR, SPAN } from "../../protocol/trace.js";
import { EXAMPLES_DIR } from "../../testing/paths.js";
import type { Tracing } from "../../lib/tracing/index.js";

const SECRET_ENV_VALUE = `s3cr3t-${randomBytes(12).toString("hex")}`;
const ENV_VALUE = `plain-env-${randomBytes(8).toString("hex")}`;
const STDIN_TEXT = `stdin-input-${randomBytes(8).toString("hex")}`;

interface Setup {
  receiver: OtlpReceiver;
  tracing: Tracing;
  stack: Awaited<ReturnType<(typeof import("../../cli/stack.js"))["startStack"]>>;
  db: { drop(): Promise<void> };
  dir: string;
  main: (typeof import("../../cli/main.js"))["main"];
  logLines: string[];
}

let s: Setup;
let sealedFile: { sealed: string; plaintextDigest: string } | undefined;
const saved: Record<string, string | undefined> = {};
const OTEL_ENV = {
  OTEL_TRACES_EXPORTER: "otlp",
  OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
  OTEL_TRACES_SAMPLER: "always_on",
  OTEL_METRICS_EXPORTER: "none",
  OTEL_LOGS_EXPORTER: "none",
  OTEL_BSP_SCHEDULE_DELAY: "100",
};

beforeAll(async () => {
  const receiver = await startOtlpReceiver();
  for (const [k, v] of Object.entries({ ...OTEL_ENV, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, PROPELLER_TRACE_TEST_SECRET: SECRET_ENV_VALUE })) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  const { startTracing } = await import("../../lib/tracing/index.js");
  const tracing = await startTracing({ serviceName: "propeller" });
  expect(tracing.enabled).toBe(true);
  // Imported only now: the ESM hook for pg is registered.
  const [{ startStack }, { createTestDatabase }, { main }, { createLogger }] = await Promise.all([
    import("../../cli/stack.js"),
    import("../../testing/postgres.js"),
    import("../../cli/main.js"),
    import("../../lib/logger.js"),
  ]);
  const logLines: string[] = [];
  const logger = createLogger("propeller", { level: "info", destination: { write: (line: string) => void logLines.push(line) } });
  const db = await createTestDatabase("e2e_tracing");
  const stack = await startStack({ proplets: 2, kbs: true, databaseUrl: db.url, logger });
  const dir = await mkdtemp(join(tmpdir(), "e2e-tracing-"));
  s = { receiver, tracing, stack, db, dir, main, logLines };
}, 120_000);

afterAll(async () => {
  await s?.stack.close();
  await s?.tracing.shutdown();
  await s?.db.drop();
  await s?.receiver.close();
  if (s?.dir) await rm(s.dir, { recursive: true, force: true });
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

async function cli(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await s.main(argv, { out: (t) => void out.push(t), err: (t) => void err.push(t) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

function tree(spans: ReceivedSpan[]): string {
  const byParent = new Map<string, ReceivedSpan[]>();
  for (const sp of spans) byParent.set(sp.parentSpanId, [...(byParent.get(sp.parentSpanId) ?? []), sp]);
  const ids = new Set(spans.map((x) => x.spanId));
  const lines: string[] = [];
  const walk = (sp: ReceivedSpan, depth: number) => {
    lines.push(`${"  ".repeat(depth)}${sp.name} [${sp.scope}] ${JSON.stringify(sp.attributes)}`);
    for (const c of (byParent.get(sp.spanId) ?? []).sort((a, b) => Number(a.startNs - b.startNs))) walk(c, depth + 1);
  };
  for (const root of spans.filter((x) => !ids.has(x.parentSpanId))) walk(root, 0);
  return lines.join("\n");
}

describe("tracing: one confidential run is one trace", () => {
  it("exports the whole span tree with parent links and attributes, and no secret", async () => {
    const kbsUrl = s.stack.kbs!.url;
    const adminKeyFile = join(s.dir, "admin.jwk");
    const { writeFile } = await import("node:fs/promises");
    await writeFile(adminKeyFile, JSON.stringify(s.stack.kbs!.adminKey), { mode: 0o600 });
    const wasm = join(EXAMPLES_DIR, "hello", "hello.wasm");
    const sealed = join(s.dir, "hello.wasm.age");
    const stdinFile = join(s.dir, "stdin.txt");
    await writeFile(stdinFile, STDIN_TEXT);
    const enc = await cli(["encrypt", wasm, "--out", sealed, "--kbs", kbsUrl, "--resource", "trace/key/hello", "--tee", "sample", "--admin-key", adminKeyFile, "--json"]);
    expect(enc.code, enc.err).toBe(0);
    const { plaintextDigest, resource } = JSON.parse(enc.out) as { plaintextDigest: string; resource: string };
    const receiptFile = join(s.dir, "receipt.jws");
    const run = await cli([
      "run", sealed, "trace-arg", "--confidential", "--tee", "sample", "--kbs", kbsUrl, "--resource", resource, "--plaintext-digest", plaintextDigest,
      "--env", `GREETING=${ENV_VALUE}`, "--secret-env", "PROPELLER_TRACE_TEST_SECRET", "--stdin", stdinFile,
      "--manager", s.stack.managerUrl, "--token", s.stack.managerToken, "--receipt-out", receiptFile, "--json",
    ]);
    expect(run.code, `${run.out}\n${run.err}`).toBe(0);
    await s.tracing.flush();

    const create = s.receiver.spans.filter((x) => x.name === SPAN.taskCreate);
    expect(create).toHaveLength(1);
    const traceId = create[0]!.traceId;
    const spans = s.receiver.spans.filter((x) => x.traceId === traceId);
    const report = tree(spans);

    // No span dropped: one root (the REST request), every other span's parent is in the trace.
    const ids = new Set(spans.map((x) => x.spanId));
    expect(ids.size, "span ids are unique").toBe(spans.length);
    const roots = spans.filter((x) => !x.parentSpanId || !ids.has(x.parentSpanId));
    expect(roots.map((r) => r.name), report).toEqual(["POST /tasks"]);
    expect(roots[0]!.parentSpanId, "the root has no parent outside the trace").toBe("");

    // The run's steps, each exactly once, under the parent it must have.
    const ours = spans.filter((x) => x.scope !== "@opentelemetry/instrumentation-pg");
    // The last of each name (a retried verify/store pair comes first).
    const byName = (name: string) => {
      const found = ours.filter((x) => x.name === name).sort((a, b) => Number(a.startNs - b.startNs));
      expect(found.length, `${name} in:\n${report}`).toBeGreaterThan(0);
      return found.at(-1)!;
    };
    const parentOf = (span: ReceivedSpan) => spans.find((x) => x.spanId === span.parentSpanId);
    const EXPECTED_PARENT: Array<[string, string]> = [
      [SPAN.taskCreate, "POST /tasks"],
      [SPAN.runQueue, SPAN.taskCreate],
      [SPAN.runSchedule, SPAN.runQueue],
      [SPAN.startPublish, SPAN.runSchedule],
      [SPAN.startReceive, SPAN.startPublish], // across MQTT: the task.start envelope's traceparent
      [SPAN.artifactFetch, SPAN.startReceive],
      [SPAN.keyRelease, SPAN.startReceive],
      [SPAN.attest, SPAN.keyRelease],
      ["POST /kbs/v0/auth", SPAN.attest], // across HTTP: the attestation agent's traceparent header
      ["POST /kbs/v0/attest", SPAN.attest],
      [SPAN.kbsAttest, "POST /kbs/v0/attest"],
      ["GET /kbs/v0/resource/:repo/:type/:tag", SPAN.keyRelease],
      [SPAN.kbsRelease, "GET /kbs/v0/resource/:repo/:type/:tag"],
      [SPAN.decrypt, SPAN.startReceive],
      [SPAN.wasmRun, SPAN.startReceive],
      [SPAN.resultPublish, SPAN.startReceive],
      [SPAN.receiptSign, SPAN.resultPublish],
      [SPAN.resultReceive, SPAN.resultPublish], // across MQTT: the task.result envelope's traceparent
      [SPAN.receiptVerify, SPAN.resultReceive],
      [SPAN.runStore, SPAN.resultReceive],
    ];
    // The result handler reads the run again when an accept moved it meanwhile (each try is a
    // verify + store pair; exactly one stores): the store span that wrote, and the verify before it.
    const stores = ours.filter((x) => x.name === SPAN.runStore);
    const written = stores.filter((x) => x.attributes[ATTR.runStored] === true);
    expect(written, report).toHaveLength(1);
    const retried = stores.filter((x) => x !== written[0]).map((x) => x.spanId);
    const verifies = ours.filter((x) => x.name === SPAN.receiptVerify).sort((a, b) => Number(a.startNs - b.startNs));
    expect(verifies.length, report).toBe(stores.length);
    const extra = new Set([...retried, ...verifies.slice(0, -1).map((x) => x.spanId)]);
    for (const x of ours.filter((y) => extra.has(y.spanId))) expect(parentOf(x)?.name).toBe(SPAN.resultReceive);
    const final = ours.filter((x) => !extra.has(x.spanId));
    const finalOne = (name: string) => {
      const found = final.filter((x) => x.name === name);
      expect(found, `${name} once in:\n${report}`).toHaveLength(1);
      return found[0]!;
    };
    for (const [child, parent] of EXPECTED_PARENT) expect(parentOf(finalOne(child))?.name, `parent of ${child}:\n${report}`).toBe(parent);
    expect(final.map((x) => x.name).sort(), report).toEqual(["POST /tasks", ...EXPECTED_PARENT.map(([c]) => c)].sort());
    // In time order along the run.
    const order = [SPAN.taskCreate, SPAN.runSchedule, SPAN.startReceive, SPAN.artifactFetch, SPAN.keyRelease, SPAN.decrypt, SPAN.wasmRun, SPAN.resultPublish, SPAN.resultReceive, SPAN.runStore];
    for (let i = 1; i < order.length; i++) expect(byName(order[i]!).startNs >= byName(order[i - 1]!).startNs, `${order[i]} after ${order[i - 1]}`).toBe(true);

    // Who emitted what: one process, one service; each box its own instrumentation scope.
    expect(new Set(spans.map((x) => x.service))).toEqual(new Set(["propeller"]));
    expect(byName(SPAN.startPublish).scope).toBe("propeller-manager");
    expect(byName(SPAN.startReceive).scope).toBe("proplet");
    expect(byName(SPAN.keyRelease).scope).toBe("attestation-agent");
    expect(byName(SPAN.kbsRelease).scope).toBe("kbs");
    // Kinds across MQTT (OTLP: 4 producer, 5 consumer) and the server spans (2).
    expect([byName(SPAN.startPublish).kind, byName(SPAN.startReceive).kind, byName(SPAN.resultPublish).kind, byName(SPAN.resultReceive).kind]).toEqual([4, 5, 4, 5]);
    expect(byName("POST /tasks").kind).toBe(2);

    // Attributes: ids, proplet, TEE, outcome.
    const taskId = (JSON.parse(run.out) as { taskId?: string; id?: string; task?: { id: string } }).taskId ?? create[0]!.attributes[ATTR.taskId];
    const runId = byName(SPAN.runQueue).attributes[ATTR.runId];
    expect(typeof runId).toBe("string");
    expect(create[0]!.attributes[ATTR.taskId]).toBe(taskId);
    for (const name of [SPAN.runQueue, SPAN.runSchedule, SPAN.startPublish, SPAN.startReceive, SPAN.resultPublish, SPAN.resultReceive]) {
      expect(byName(name).attributes[ATTR.taskId], name).toBe(taskId);
      expect(byName(name).attributes[ATTR.runId], name).toBe(runId);
    }
    const propletId = byName(SPAN.runSchedule).attributes[ATTR.propletId];
    expect(propletId).toMatch(/^proplet-[12]$/);
    for (const name of [SPAN.startPublish, SPAN.startReceive, SPAN.resultPublish, SPAN.resultReceive]) expect(byName(name).attributes[ATTR.propletId], name).toBe(propletId);
    for (const name of [SPAN.startPublish, SPAN.startReceive, SPAN.keyRelease, SPAN.attest]) expect(byName(name).attributes[ATTR.tee], name).toBe("sample");
    expect(byName(SPAN.kbsAttest).attributes).toMatchObject({ [ATTR.tee]: "sample", [ATTR.outcome]: "affirming" });
    expect(byName(SPAN.kbsRelease).attributes).toMatchObject({ [ATTR.kbsResource]: resource, [ATTR.outcome]: "released" });
    for (const name of [SPAN.startReceive, SPAN.wasmRun, SPAN.resultPublish, SPAN.resultReceive, SPAN.runStore]) expect(byName(name).attributes[ATTR.outcome], name).toBe("completed");
    expect(byName(SPAN.receiptVerify).attributes).toMatchObject({ [ATTR.receiptValid]: true, [ATTR.receiptAttested]: true });
    expect(spans.every((x) => x.status.code !== 2), "no span failed").toBe(true);

    // The official pg instrumentation: statements of this run's steps are children of them.
    const pgUnderStore = spans.filter((x) => x.scope === "@opentelemetry/instrumentation-pg" && x.parentSpanId === byName(SPAN.runStore).spanId);
    expect(pgUnderStore.map((x) => x.attributes["db.query.text"])).toContain("COMMIT");

    // No secret in any attribute of any exported span (any trace): the secret env value, the plain
    // env value, stdin, the output, API and admin keys, the EAR token, the age identity.
    const receipt = (await readFile(receiptFile, "utf8")).trim();
    const tokens = [...Buffer.from(receipt.split(".")[1]!, "base64url").toString("utf8").matchAll(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/g)].map((m) => m[0]);
    expect(tokens.length, "the receipt carries the EAR token").toBeGreaterThan(0);
    const secrets = [
      SECRET_ENV_VALUE, Buffer.from(SECRET_ENV_VALUE).toString("base64"), ENV_VALUE, STDIN_TEXT, Buffer.from(STDIN_TEXT).toString("base64"),
      "Hello, trace-arg", s.stack.managerToken, String(s.stack.kbs!.adminKey.d), "AGE-SECRET-KEY", "Bearer ", ...tokens,
    ];
    const everything = s.receiver.rawTraces.join("\n");
    expect(everything.length).toBeGreaterThan(1000);
    for (const secret of secrets) expect(everything.includes(secret), `a secret (${secret.slice(0, 12)}…) in an exported span`).toBe(false);
    for (const span of s.receiver.spans) {
      for (const [key, value] of Object.entries(span.attributes)) {
        expect(/secret|token$|password|authorization|cookie/i.test(key) && key !== ATTR.tokenCached, `attribute ${key} on ${span.name}`).toBe(false);
        expect(String(value)).not.toMatch(/^eyJ/);
      }
    }

    // Logs and traces join: the manager's "run finished" line carries this trace's ids.
    const joined = s.logLines.map((l) => JSON.parse(l) as { msg?: string; trace_id?: string; span_id?: string; runId?: string }).filter((l) => l.trace_id === traceId);
    expect(joined.some((l) => l.msg === "run finished" && l.runId === runId && ids.has(l.span_id ?? "")), "a log line of the run with its trace and span id").toBe(true);
    sealedFile = { sealed, plaintextDigest };
  });

  it("a refused key release is one trace too: the KBS's denial, the failed run and its stored outcome", async () => {
    expect(sealedFile, "runs after the first test").toBeDefined();
    const before = new Set(s.receiver.spans.filter((x) => x.name === SPAN.taskCreate).map((x) => x.spanId));
    const kbsUrl = s.stack.kbs!.url;
    const run = await cli([
      "run", sealedFile!.sealed, "--confidential", "--tee", "sample", "--kbs", kbsUrl, "--resource", "kbs:///trace/key/missing",
      "--plaintext-digest", sealedFile!.plaintextDigest, "--manager", s.stack.managerUrl, "--token", s.stack.managerToken, "--json",
    ]);
    expect(run.code, `${run.out}\n${run.err}`).not.toBe(0);
    await s.tracing.flush();
    const create = s.receiver.spans.filter((x) => x.name === SPAN.taskCreate && !before.has(x.spanId));
    expect(create).toHaveLength(1);
    const spans = s.receiver.spans.filter((x) => x.traceId === create[0]!.traceId);
    const report = tree(spans);
    const ids = new Set(spans.map((x) => x.spanId));
    expect(spans.filter((x) => !ids.has(x.parentSpanId)).map((x) => x.name), report).toEqual(["POST /tasks"]);
    const one = (name: string) => {
      const found = spans.filter((x) => x.name === name);
      expect(found, `${name} once in:\n${report}`).toHaveLength(1);
      return found[0]!;
    };
    // The token is cached from the first run: no attestation this time, straight to the resource.
    expect(spans.some((x) => x.name === SPAN.attest), report).toBe(false);
    expect(one(SPAN.keyRelease).attributes[ATTR.tokenCached]).toBe(true);
    const release = one(SPAN.kbsRelease);
    expect(release.attributes).toMatchObject({ [ATTR.outcome]: "denied", [ATTR.errorCode]: "kbs_resource_not_found" });
    expect(release.status.code).toBe(2);
    expect(one(SPAN.keyRelease).status.code).toBe(2);
    expect(spans.some((x) => x.name === SPAN.decrypt || x.name === SPAN.wasmRun), "nothing decrypted or run").toBe(false);
    const received = one(SPAN.startReceive);
    expect(received.attributes).toMatchObject({ [ATTR.outcome]: "failed", [ATTR.errorCode]: "kbs_not_found" });
    expect(received.status).toMatchObject({ code: 2, message: "kbs_not_found" });
    expect(one(SPAN.resultReceive).attributes[ATTR.outcome]).toBe("failed");
    // A run that fails this fast can race its own accept: the handler then reads the run again
    // (one more verify + store pair, under the same result span); exactly one store writes.
    const stores = spans.filter((x) => x.name === SPAN.runStore);
    expect(stores.filter((x) => x.attributes[ATTR.runStored] === true), report).toHaveLength(1);
    for (const st of stores) expect(st.attributes[ATTR.outcome]).toBe("failed");
    const verifies = spans.filter((x) => x.name === SPAN.receiptVerify);
    expect(verifies.length).toBe(stores.length);
    // The failure receipt is signed by the attested key (the token was held) and verified.
    for (const v of verifies) expect(v.attributes).toMatchObject({ [ATTR.receiptValid]: true, [ATTR.receiptAttested]: true });
    for (const x of [...stores, ...verifies]) expect(x.parentSpanId).toBe(one(SPAN.resultReceive).spanId);
  });
});

describe("tracing over MQTT 5 (real Mosquitto): the trace context in the PUBLISH user properties too", () => {
  it("task.start and task.result carry traceparent as a user property equal to the envelope's, and the spans join through it", async () => {
    const [{ startPrivateMosquitto }, { startStack }, mqtt, { uniqueTopicRoot, waitFor }] = await Promise.all([
      import("../../testing/mosquitto.js"),
      import("../../cli/stack.js"),
      import("mqtt"),
      import("../../testing/net.js"),
    ]);
    const mosquitto = await startPrivateMosquitto();
    const topicRoot = uniqueTopicRoot();
    // A bystander on the wire (MQTT 5 too, so the broker forwards the properties): what it sees is what was sent.
    const seen: Array<{ topic: string; envelope: { kind?: string; traceparent?: string }; properties: Record<string, string | string[]> | undefined }> = [];
    const sniffer = await mqtt.connectAsync(mosquitto.url, { protocolVersion: 5, clientId: `sniffer-${process.pid}` });
    await sniffer.subscribeAsync(`${topicRoot}/#`, { qos: 1 });
    sniffer.on("message", (topic, payload, packet) => {
      seen.push({ topic, envelope: JSON.parse(payload.toString("utf8")) as { kind?: string; traceparent?: string }, properties: packet.properties?.userProperties });
    });
    const stack = await startStack({ proplets: 1, mqttUrl: mosquitto.url, mqttProtocolVersion: 5, topicRoot, logger: (await import("pino")).default({ level: "silent" }) });
    try {
      await waitFor(async () => {
        const r = await fetch(`${stack.managerUrl}/proplets`, { headers: { authorization: `Bearer ${stack.managerToken}` } });
        return ((await r.json()) as { items: Array<{ alive: boolean }> }).items.some((p) => p.alive);
      }, 20_000, "the proplet online");
      const wasm = await readFile(join(EXAMPLES_DIR, "add", "add.wasm"));
      const { sha256Digest } = await import("../../protocol/index.js");
      const response = await fetch(`${stack.managerUrl}/tasks?wait=30000`, {
        method: "POST",
        headers: { authorization: `Bearer ${stack.managerToken}`, "content-type": "application/json" },
        body: JSON.stringify({ name: "mqtt5-trace", artifact: { digest: sha256Digest(wasm), inline: wasm.toString("base64") }, entrypoint: { kind: "export", name: "add", inputs: [2, 3] }, start: true }),
      });
      const task = (await response.json()) as { id: string; state: string };
      expect(task.state).toBe("completed");
      await waitFor(() => seen.some((m) => m.envelope.kind === "task.result"), 10_000, "task.result on the wire");
      const start = seen.find((m) => m.envelope.kind === "task.start")!;
      const result = seen.find((m) => m.envelope.kind === "task.result")!;
      for (const m of [start, result, ...seen.filter((x) => x.envelope.kind === "task.accepted" || x.envelope.kind === "proplet.heartbeat")]) {
        expect(m.properties, m.topic).toBeDefined();
        expect(m.properties!.traceparent, m.topic).toBe(m.envelope.traceparent);
        expect(m.properties!.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      }
      // The result's CONSUMER span ends after the run is stored (the REST answer may come first).
      const create = await waitFor(async () => {
        await s.tracing.flush();
        const c = s.receiver.spans.find((x) => x.name === SPAN.taskCreate && x.attributes[ATTR.taskId] === task.id);
        return c && s.receiver.spans.some((x) => x.traceId === c.traceId && x.name === SPAN.resultReceive) ? c : undefined;
      }, 10_000, "the task's trace with its result span");
      const spans = s.receiver.spans.filter((x) => x.traceId === create.traceId);
      const report = tree(spans);
      const one = (name: string) => {
        const found = spans.filter((x) => x.name === name);
        expect(found, `${name} once in:\n${report}`).toHaveLength(1);
        return found[0]!;
      };
      // The property names the PRODUCER span; the receiver's CONSUMER span is its child.
      const spanIdOf = (traceparent: string) => traceparent.split("-")[2];
      expect(spanIdOf(start.properties!.traceparent as string)).toBe(one(SPAN.startPublish).spanId);
      expect(one(SPAN.startReceive).parentSpanId).toBe(one(SPAN.startPublish).spanId);
      expect(spanIdOf(result.properties!.traceparent as string)).toBe(one(SPAN.resultPublish).spanId);
      expect(one(SPAN.resultReceive).parentSpanId).toBe(one(SPAN.resultPublish).spanId);
    } finally {
      await stack.close();
      await sniffer.endAsync();
      await mosquitto.dispose();
    }
  }, 90_000);
});
