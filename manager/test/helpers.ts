/**
 * Test harness: a real manager on a real broker and database, driven by "scripted proplets" —
 * real MQTT clients that speak the real protocol (announce, heartbeat, accepted, result, last
 * will), the manager's true boundary. Nothing of the manager is mocked.
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { MqttConnection, startEmbeddedBroker } from "../../mqtt/index.js";
import {
  Topics,
  decodeManagerOnline,
  decodeTopicMessage,
  encodeTopicMessage,
  sha256Digest,
  buildReceiptClaims,
  receiptSigner,
  signReceipt,
  type ReceiptSigner,
  type Capabilities,
  type PropletTopicName,
  type RunRef,
  type TaskStart,
  type TopicMessage,
} from "../../protocol/index.js";
import { createTestDatabase } from "../../testing/postgres.js";
import { TEST_MQTT_URL } from "../../testing/mosquitto.js";
import { uniqueTopicRoot, waitFor } from "../../testing/net.js";
import { generateApiKey, startManager, type ManagerConfigInput, type RunningManager } from "../index.js";

export const logger = pino({ level: process.env.PROPELLER_TEST_LOG ?? "silent" });

/** The admin key every harness manager is started with (a bootstrap key); `api` sends it unless told otherwise. */
export const ADMIN_KEY = generateApiKey().key;
export const BOOTSTRAP = { bootstrapKeys: [{ name: "test-admin", key: ADMIN_KEY, scopes: ["admin" as const] }] };

/** A tiny valid-looking artifact (the manager never runs it; proplets do). */
export const WASM = Buffer.from("\0asm\x01\0\0\0", "binary");
export const ARTIFACT = { digest: sha256Digest(WASM), inline: WASM.toString("base64") };

export type Deployment = "embedded" | "services";
export const DEPLOYMENTS: readonly Deployment[] = ["embedded", "services"];

export interface Backing {
  mqttUrl: string;
  databaseUrl: string;
  close(): Promise<void>;
}

/** embedded: aedes in process + PGlite in a temp dir; services: the machine's Mosquitto + a fresh PostgreSQL database. */
export async function startBacking(deployment: Deployment, options: { persistent?: boolean } = {}): Promise<Backing> {
  if (deployment === "embedded") {
    const broker = await startEmbeddedBroker();
    const dir = await mkdtemp(join(tmpdir(), "manager-test-pglite-"));
    return {
      mqttUrl: broker.url,
      // In memory unless the test restarts the manager on the same data (PGlite on disk is slower).
      databaseUrl: options.persistent ? `pglite://${dir}` : "pglite://memory",
      async close() {
        await broker.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  const db = await createTestDatabase("manager_test");
  return { mqttUrl: TEST_MQTT_URL, databaseUrl: db.url, close: () => db.drop() };
}

export interface Harness {
  manager: RunningManager;
  config: ManagerConfigInput;
  root: string;
  mqttUrl: string;
  api<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>; // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON replies are inspected field by field
  proplet(id: string, options?: ScriptedOptions): Promise<ScriptedProplet>;
  close(): Promise<void>;
}

export async function startHarness(backing: Backing, overrides: Partial<ManagerConfigInput> = {}): Promise<Harness> {
  const root = overrides.topicRoot ?? uniqueTopicRoot();
  const config: ManagerConfigInput = {
    databaseUrl: backing.databaseUrl,
    mqtt: { url: backing.mqttUrl },
    topicRoot: root,
    http: { port: 0 },
    logger,
    auth: BOOTSTRAP,
    ...overrides,
  };
  const manager = await startManager(config);
  const proplets: ScriptedProplet[] = [];
  return {
    manager,
    config,
    root,
    mqttUrl: backing.mqttUrl,
    api: (method, path, body) => api(manager.url, method, path, body),
    async proplet(id, options = {}) {
      const p = await ScriptedProplet.connect(backing.mqttUrl, root, id, options);
      proplets.push(p);
      return p;
    },
    async close() {
      for (const p of proplets) await p.close().catch(() => undefined);
      await manager.close();
    },
  };
}

/** Authorization header for `token` (null = none). */
export function bearer(token: string | null = ADMIN_KEY): Record<string, string> {
  return token === null ? {} : { authorization: `Bearer ${token}` };
}

export async function api<T>(base: string, method: string, path: string, body?: unknown, token: string | null = ADMIN_KEY, timeoutMs = 15_000): Promise<{ status: number; body: T }> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { ...bearer(token), ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
}

export interface ScriptedOptions {
  capabilities?: Partial<Capabilities>;
  /** Send task.accepted for every task.start as soon as it arrives (default true). */
  autoAccept?: boolean;
  /** Announce right after connecting and whenever asked (manager.online, control) (default true). */
  autoAnnounce?: boolean;
  /** Runs reported in announces and heartbeats. */
  running?: RunRef[];
  /** Heartbeat period; 0 = no automatic heartbeats (default 300). */
  heartbeatMs?: number;
  /** The identity key to announce and sign with (a reconnecting proplet keeps its key); default a fresh one. */
  identity?: ReceiptSigner;
}

const DEFAULT_CAPABILITIES: Capabilities = {
  runtimes: ["wasi-p1"],
  artifactSources: ["inline", "http"],
  memoryBytes: 1024 * 1024 * 1024,
  maxConcurrency: 4,
  tee: null,
  tags: [],
};

/** A real MQTT client speaking the proplet side of the protocol, step by step as the test says. */
export class ScriptedProplet {
  readonly starts: TaskStart[] = [];
  readonly stops: Array<TopicMessage<"tasks/stop">> = [];
  readonly acks: Array<TopicMessage<"tasks/result-ack">> = [];
  readonly controls: Array<TopicMessage<"control">> = [];
  managerOnline = 0;
  running: RunRef[];
  capabilities: Capabilities;

  private constructor(
    readonly id: string,
    readonly conn: MqttConnection,
    readonly topics: Topics,
    options: ScriptedOptions,
    /** Its identity key: it signs the receipt of every result, as a real proplet does. */
    readonly identity: ReceiptSigner,
  ) {
    this.running = options.running ?? [];
    this.capabilities = { ...DEFAULT_CAPABILITIES, ...options.capabilities };
  }

  static async connect(mqttUrl: string, root: string, id: string, options: ScriptedOptions = {}): Promise<ScriptedProplet> {
    const topics = new Topics(root);
    const will = encodeTopicMessage("status", { kind: "proplet.status", propletId: id, state: "offline", reason: "last will" });
    const conn = await MqttConnection.connect({
      url: mqttUrl,
      clientId: `scripted-${id}-${Math.random().toString(36).slice(2, 8)}`,
      will: { topic: topics.proplet(id, "status"), payload: will },
      reconnectPeriodMs: 200,
      keepaliveSeconds: 5,
    });
    const pair = generateKeyPairSync("ed25519");
    const p = new ScriptedProplet(id, conn, topics, options, options.identity ?? (await receiptSigner(pair.privateKey, pair.publicKey)));
    await conn.subscribe(topics.proplet(id, "tasks/start"), async (_t, payload) => {
      const start = decodeTopicMessage("tasks/start", payload);
      p.starts.push(start);
      if (options.autoAccept ?? true) await p.accept(start);
    });
    await conn.subscribe(topics.proplet(id, "tasks/stop"), (_t, payload) => void p.stops.push(decodeTopicMessage("tasks/stop", payload)));
    await conn.subscribe(topics.proplet(id, "tasks/result-ack"), (_t, payload) => void p.acks.push(decodeTopicMessage("tasks/result-ack", payload)));
    await conn.subscribe(topics.proplet(id, "control"), async (_t, payload) => {
      p.controls.push(decodeTopicMessage("control", payload));
      if (options.autoAnnounce ?? true) await p.announce();
    });
    await conn.subscribe(topics.managerOnline, async (_t, payload) => {
      decodeManagerOnline(payload);
      p.managerOnline++;
      if (options.autoAnnounce ?? true) await p.announce();
    });
    if (options.autoAnnounce ?? true) await p.announce();
    const every = options.heartbeatMs ?? 300;
    if (every > 0) p.stopBeat = p.beat(every);
    return p;
  }

  stopBeat: () => void = () => undefined;

  async send<N extends PropletTopicName>(name: N, body: Parameters<typeof encodeTopicMessage<N>>[1]): Promise<void> {
    await this.conn.publish(this.topics.proplet(this.id, name), encodeTopicMessage(name, body));
  }

  /** Publishes raw bytes on one of this proplet's topics (malformed-message tests). */
  async sendRaw(name: PropletTopicName, payload: Buffer | string, asId = this.id): Promise<void> {
    await this.conn.publish(this.topics.proplet(asId, name), Buffer.from(payload));
  }

  async announce(): Promise<void> {
    await this.send("announce", {
      kind: "proplet.announce",
      propletId: this.id,
      name: `scripted ${this.id}`,
      software: { name: "scripted-proplet", version: "0" },
      capabilities: this.capabilities,
      running: this.running,
      identityKey: this.identity.publicJwk,
    });
  }

  async heartbeat(): Promise<void> {
    await this.send("heartbeat", {
      kind: "proplet.heartbeat",
      propletId: this.id,
      running: this.running,
      load: { running: this.running.length, maxConcurrency: this.capabilities.maxConcurrency },
      intervalMs: 200,
    });
  }

  /** Heartbeats every `ms` until the returned function is called. */
  beat(ms: number): () => void {
    const timer = setInterval(() => void this.heartbeat().catch(() => undefined), ms);
    return () => clearInterval(timer);
  }

  async accept(start: Pick<TaskStart, "taskId" | "runId">): Promise<void> {
    if (!this.running.some((r) => r.runId === start.runId)) this.running.push({ taskId: start.taskId, runId: start.runId });
    await this.send("tasks/accepted", { kind: "task.accepted", propletId: this.id, taskId: start.taskId, runId: start.runId });
  }

  async result(
    start: Pick<TaskStart, "taskId" | "runId">,
    outcome: {
      outcome?: "completed" | "failed" | "stopped";
      exitCode?: number | null;
      stdout?: string;
      stderr?: string;
      returnValues?: number[] | null;
      error?: { code: string; message: string } | null;
      /** Replace the receipt: null sends none, a string sends that JWS. */
      receipt?: string | null;
      /** Sign the receipt with this key instead of the announced identity. */
      signer?: ReceiptSigner;
    } = {},
    asId = this.id,
  ): Promise<void> {
    this.running = this.running.filter((r) => r.runId !== start.runId);
    const body = {
      outcome: outcome.outcome ?? "completed",
      exitCode: outcome.exitCode === undefined ? 0 : outcome.exitCode,
      returnValues: outcome.returnValues ?? null,
      stdout: Buffer.from(outcome.stdout ?? "").toString("base64"),
      stderr: Buffer.from(outcome.stderr ?? "").toString("base64"),
      stdoutTruncated: false,
      stderrTruncated: false,
      error: outcome.error ?? null,
      startedAt: new Date().toISOString(),
      finishedAt: new Date().toISOString(),
    };
    // The receipt covers what this run was dispatched with, as received in its task.start.
    const dispatched = "receiptNonce" in start ? (start as TaskStart) : this.starts.find((s) => s.runId === start.runId);
    let receipt: string | undefined;
    if (outcome.receipt !== undefined) receipt = outcome.receipt ?? undefined;
    else if (dispatched) {
      receipt = await signReceipt(buildReceiptClaims({ ...dispatched, propletId: asId }, body, { plaintextDigest: dispatched.artifact.digest }), outcome.signer ?? this.identity);
    }
    await this.conn.publish(
      this.topics.proplet(asId, "tasks/result"),
      encodeTopicMessage("tasks/result", {
        kind: "task.result",
        propletId: asId,
        taskId: start.taskId,
        runId: start.runId,
        ...body,
        ...(receipt !== undefined ? { receipt } : {}),
      }),
    );
  }

  /** The first delivery of each distinct run, in order (redeliveries of a run are not counted). */
  get runs(): TaskStart[] {
    const seen = new Set<string>();
    return this.starts.filter((s) => !seen.has(s.runId) && seen.add(s.runId));
  }

  /** Waits for the `count`-th distinct run to arrive and returns its start. */
  async waitForStart(count = 1, timeoutMs = 10_000): Promise<TaskStart> {
    await waitFor(() => this.runs.length >= count, timeoutMs, `${this.id} to receive ${count} run(s)`);
    return this.runs[count - 1]!;
  }

  /** Waits for `count` task.start messages, redeliveries included. */
  async waitForDeliveries(count: number, timeoutMs = 10_000): Promise<TaskStart> {
    await waitFor(() => this.starts.length >= count, timeoutMs, `${this.id} to receive ${count} task.start`);
    return this.starts[count - 1]!;
  }

  /** As a crash: no DISCONNECT, so the broker publishes the last will. */
  async crash(): Promise<void> {
    this.stopBeat();
    await this.conn.destroy();
  }

  async close(): Promise<void> {
    this.stopBeat();
    await this.conn.close();
  }
}

/** Creates a task through the REST API and returns it. */
export async function createTask(h: Harness, body: Record<string, unknown> = {}): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON reply
  const res = await h.api("POST", "/tasks", { name: "t", artifact: ARTIFACT, ...body });
  if (res.status !== 201) throw new Error(`create failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

export async function getTask(h: Harness, id: string): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON reply
  const res = await h.api("GET", `/tasks/${id}`);
  if (res.status !== 200) throw new Error(`get failed: ${res.status}`);
  return res.body;
}

export async function waitForTask(h: Harness, id: string, predicate: (t: any) => boolean, what: string, timeoutMs = 10_000): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON reply
  return waitFor(async () => {
    const t = await getTask(h, id);
    return predicate(t) ? t : null;
  }, timeoutMs, what);
}

export async function waitForProplet(h: Harness, id: string, alive = true, timeoutMs = 10_000): Promise<void> {
  await waitFor(async () => {
    const res = await h.api<{ alive: boolean }>("GET", `/proplets/${id}`);
    return res.status === 200 && res.body.alive === alive;
  }, timeoutMs, `proplet ${id} alive=${alive}`);
}
