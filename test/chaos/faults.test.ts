/**
 * Faults, counted: production processes — `propeller manager serve` and two
 * `propeller proplet serve` (node bin/propeller.js, each its own OS process) on a Mosquitto and a
 * PostgreSQL cluster of this test's own — run N tasks per fault (PROPELLER_CHAOS_TASKS, default
 * 200) while one fault is injected when about a third of them are done:
 *   - kill -9 of a proplet mid-run (restarted after 2 s);
 *   - a broker restart (down 2 s);
 *   - kill -9 of the manager, restarted after 1 s;
 *   - a PostgreSQL restart (fast shutdown: every connection dropped);
 *   - a flaky link between the proplets and the broker: 50 ms each way and a connection cut every
 *     ~3 s for 20 s (testing/flaky-link.ts; `tc netem` needs a kernel module this machine lacks).
 * The proplets always reach the broker through that link; it forwards untouched until a fault is set.
 *   - kill -9 of the KBS (`propeller kbs serve`, development mode, on the same PostgreSQL cluster)
 *     while the proplets attest and fetch the key of confidential tasks, restarted after 2 s;
 *   - a full disk under PostgreSQL for 10 s (the cluster lives on a tmpfs of its own, filled to
 *     the last byte by a file that is then removed); a task submitted meanwhile is refused with
 *     503 database_disk_full, and results that cannot be stored are resent until they are.
 * Each task is a CPU-bound WASI command (primes) with `onPropletLoss: reschedule` and 3 attempts.
 * Counted per fault: completed, failed (each must say why), stuck (not settled by the deadline) and
 * lost (accepted with 201 but unknown afterwards). Stuck and lost must be 0, every failure must carry
 * a reason; the table is printed (and kept in the README).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, open, rm, statfs, writeFile } from "node:fs/promises";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { generateApiKey } from "../../manager/index.js";
import { describeWhen } from "../../testing/describe-when.js";
import { startFlakyLink, type FlakyLink } from "../../testing/flaky-link.js";
import { startPrivateMosquitto, type PrivateMosquitto } from "../../testing/mosquitto.js";
import { freePort, uniqueTopicRoot, waitFor } from "../../testing/net.js";
import { REPO_ROOT } from "../../testing/paths.js";
import { privatePostgresAvailable, startPrivatePostgres, type PrivatePostgres } from "../../testing/private-postgres.js";
import { stopProcess } from "../../testing/process.js";
import { exampleArtifact } from "../e2e/helpers.js";
import { readFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { Client as PgClient } from "pg";
import { adminKeygen, mintAdminToken, setAttestationPolicy } from "../../kbs/index.js";
import { confidentialTaskBody, sealWorkload } from "../../cli/confidential.js";

const TASKS = Number(process.env.PROPELLER_CHAOS_TASKS ?? 200);
const BIN = join(REPO_ROOT, "bin", "propeller.js");
const SETTLE_MS = 240_000;

interface Proc {
  name: string;
  env: Record<string, string>;
  proc: ChildProcess | undefined;
  output: string;
}

let dir: string;
let mosquitto: PrivateMosquitto;
let link: FlakyLink;
/** The tmpfs the PostgreSQL cluster lives on, or null where it cannot be mounted. */
let diskDir: string | null = null;
/** Submissions refused with 503 while the disk was full (printed with the table). */
let diskRefusals = 0;
let pg: PrivatePostgres;
let manager: Proc;
let kbs: Proc;
let kbsUrl: string;
let kbsAdmin: { url: string; token: () => Promise<string> };
let proplets: Proc[];
let managerUrl: string;
const adminKey = generateApiKey().key;
const table: Array<{ fault: string; tasks: number; completed: number; failed: number; stuck: number; lost: number; seconds: number; reasons: string[] }> = [];

function start(p: Proc, args: string[]): void {
  p.output = "";
  const proc = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...p.env }, stdio: ["ignore", "pipe", "pipe"] });
  const keep = (d: Buffer) => void (p.output = (p.output + d.toString("utf8")).slice(-20_000));
  proc.stdout?.on("data", keep);
  proc.stderr?.on("data", keep);
  p.proc = proc;
}

const startManager = () => start(manager, ["manager", "serve"]);
const startKbsProcess = () => start(kbs, ["kbs", "serve"]);
const startProplet = (p: Proc) => start(p, ["proplet", "serve"]);

function kill9(p: Proc): void {
  p.proc?.kill("SIGKILL");
  p.proc = undefined;
}

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${managerUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${adminKey}`, ...(body ? { "content-type": "application/json" } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** The manager answering (through restarts), with both proplets alive. */
async function ready(): Promise<void> {
  await waitFor(async () => {
    const r = await api("GET", "/proplets").catch(() => null);
    const items = (r?.body.items ?? []) as Array<{ alive: boolean }>;
    return items.filter((p) => p.alive).length === 2 || undefined;
  }, 60_000, `manager and 2 proplets (manager output: ${manager.output.slice(-500)})`);
}

const SETTLED = new Set(["completed", "failed", "stopped"]);

/** A task body per index: plain primes by default. */
type TaskBody = (i: number, name: string, args: string[]) => Record<string, unknown>;

/** `inject` may return ids of tasks it got accepted during the fault: they are counted too. */
async function runScenario(fault: string, inject: () => Promise<string[] | void>, body?: TaskBody): Promise<void> {
  await ready();
  const artifact = await exampleArtifact("primes/primes.wasm");
  const taskBody: TaskBody = body ?? ((_i, name, args) => ({ name, artifact, args }));
  const began = Date.now();
  const ids: string[] = [];
  // Submitted before the fault: every one of them was accepted (201) and must be accounted for.
  for (let i = 0; i < TASKS; i += 20) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(20, TASKS - i) }, (_, j) =>
        api("POST", "/tasks", { ...taskBody(i + j, `${fault}-${i + j}`, [String(300_000 + ((i + j) % 7) * 100_000)]), onPropletLoss: "reschedule", retry: { maxAttempts: 3, backoffMs: 200 }, start: true }),
      ),
    );
    for (const r of batch) {
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      ids.push(r.body.id as string);
    }
  }
  const states = new Map<string, { state: string; reason: string } | "unknown">();
  const poll = async () => {
    for (let i = 0; i < ids.length; i += 25) {
      await Promise.all(
        ids.slice(i, i + 25).map(async (id) => {
          const prior = states.get(id);
          if (prior !== undefined && prior !== "unknown" && SETTLED.has(prior.state)) return;
          const r = await api("GET", `/tasks/${id}`).catch(() => null);
          if (!r) return; // the manager is down: ask again later
          if (r.status === 404) return void states.set(id, "unknown");
          const run = r.body.latestRun as { result?: { error?: { message?: string } | null } | null } | null;
          states.set(id, { state: r.body.state as string, reason: run?.result?.error?.message ?? "" });
        }),
      );
    }
  };
  const settled = () => [...states.values()].filter((s) => s !== "unknown" && SETTLED.has(s.state)).length;
  await waitFor(async () => {
    await poll();
    return settled() >= TASKS / 3 || undefined;
  }, SETTLE_MS, "a third of the tasks settled");
  ids.push(...((await inject()) ?? []));
  const deadline = Date.now() + SETTLE_MS;
  while (Date.now() < deadline) {
    await poll();
    if (settled() + [...states.values()].filter((s) => s === "unknown").length === ids.length) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  await poll();
  const values = ids.map((id) => states.get(id));
  const failed = values.filter((s): s is { state: string; reason: string } => s !== undefined && s !== "unknown" && s.state === "failed");
  const row = {
    fault,
    tasks: ids.length,
    completed: values.filter((s) => s !== undefined && s !== "unknown" && s.state === "completed").length,
    failed: failed.length,
    stuck: values.filter((s) => s === undefined || (s !== "unknown" && !SETTLED.has(s.state))).length,
    lost: values.filter((s) => s === "unknown").length,
    seconds: Math.round((Date.now() - began) / 1000),
    reasons: [...new Set(failed.map((f) => f.reason))],
  };
  table.push(row);
  expect(row.lost, fault).toBe(0);
  const alive = [manager, ...proplets].map((p) => `${p.name}: ${p.proc && p.proc.exitCode === null ? "running" : `exited ${p.proc?.exitCode ?? "(killed)"}`}`).join(", ");
  expect(row.stuck, `${fault}: ${alive}; manager output: ${manager.output.slice(-3000)}`).toBe(0);
  for (const f of failed) expect(f.reason, `a failed task under "${fault}" says why`).not.toBe("");
}

describeWhen(
  "faults: N tasks per fault on production processes, counted",
  privatePostgresAvailable(),
  { test: "can create a PostgreSQL cluster of its own", why: "pg_createcluster (postgresql-common) and root are needed for the fault suite", skip: "pg_createcluster is not available (or not root)" },
  () => {
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), "propeller-chaos-"));
      mosquitto = await startPrivateMosquitto();
      link = await startFlakyLink(mosquitto.port);
      // Outside `dir`: the database server's own user must reach it (mkdtemp folders are 0700).
      diskDir = mountSmallDisk(await mkdtemp(join(tmpdir(), "propeller-pgdisk-")));
      pg = await startPrivatePostgres(diskDir ? { dataDir: join(diskDir, "data") } : {});
      await writeFile(join(dir, "admin-key"), adminKey, { mode: 0o600 });
      const port = await freePort();
      managerUrl = `http://127.0.0.1:${port}`;
      const topicRoot = uniqueTopicRoot();
      const common = { PROPELLER_MQTT_URL: mosquitto.url, PROPELLER_TOPIC_ROOT: topicRoot, PROPELLER_LOG_LEVEL: "warn" };
      // The KBS: development mode (the proplets attest with the sample TEE), its own database.
      const admin = await adminKeygen({ id: "chaos-ops" });
      const kbsDb = new PgClient({ connectionString: pg.url });
      await kbsDb.connect();
      await kbsDb.query("CREATE DATABASE chaos_kbs");
      await kbsDb.end();
      const kbsPort = await freePort();
      kbsUrl = `http://127.0.0.1:${kbsPort}`;
      kbs = {
        name: "kbs",
        env: {
          PROPELLER_LOG_LEVEL: "warn",
          PROPELLER_KBS_LISTEN: `127.0.0.1:${kbsPort}`,
          PROPELLER_KBS_DATABASE_URL: pg.url.replace(/\/postgres$/, "/chaos_kbs"),
          PROPELLER_KBS_DEVELOPMENT: "true",
          PROPELLER_KBS_MASTER_KEY: randomBytes(32).toString("base64"),
          PROPELLER_KBS_ADMIN_KEYS: JSON.stringify([{ id: admin.id, publicKey: admin.publicJwk, roles: ["admin"] }]),
        },
        proc: undefined,
        output: "",
      };
      startKbsProcess();
      kbsAdmin = { url: kbsUrl, token: () => mintAdminToken(admin.privateJwk, { keyId: admin.id, subject: "chaos", lifetimeSeconds: 120 }) };
      await waitFor(async () => (await fetch(`${kbsUrl}/healthz`).catch(() => null))?.ok || undefined, 60_000, `the KBS (output: ${kbs.output.slice(-500)})`);
      await setAttestationPolicy(kbsAdmin, "sample", { id: "chaos/sample", requireReferenceValues: false, unsafeClaims: [] });
      manager = {
        name: "manager",
        env: { ...common, PROPELLER_DATABASE_URL: pg.url, PROPELLER_HTTP_HOST: "127.0.0.1", PROPELLER_HTTP_PORT: String(port), PROPELLER_BOOTSTRAP_API_KEY_FILE: join(dir, "admin-key") },
        proc: undefined,
        output: "",
      };
      const propletCommon = { ...common, PROPELLER_MQTT_URL: `mqtt://127.0.0.1:${link.port}` };
      proplets = [1, 2].map((i) => ({
        name: `chaos-p${i}`,
        env: { ...propletCommon, PROPELLER_PROPLET_ID: `chaos-p${i}`, PROPELLER_WORK_DIR: join(dir, `p${i}`), PROPELLER_TEE: JSON.stringify({ type: "sample" }) },
        proc: undefined,
        output: "",
      }));
      startManager();
      for (const p of proplets) startProplet(p);
      await ready();
    }, 120_000);

    afterAll(async () => {
      if (table.length > 0) {
        const lines = ["| fault | tasks | completed | failed (with a reason) | stuck | lost | seconds |", "|---|---:|---:|---:|---:|---:|---:|"];
        for (const r of table) lines.push(`| ${r.fault} | ${r.tasks} | ${r.completed} | ${r.failed}${r.reasons.length ? ` (${r.reasons.join("; ").slice(0, 200)})` : ""} | ${r.stuck} | ${r.lost} | ${r.seconds} |`);
        console.log(`\nfaults (${new Date().toISOString()}):\n${lines.join("\n")}\nwhile the disk was full, ${diskRefusals} of 40 submissions were refused with 503 (the rest stored and counted above)\n`);
      }
      for (const p of [manager, kbs, ...(proplets ?? [])]) if (p?.proc) await stopProcess(p.proc, 5000);
      await link?.close();
      await mosquitto?.dispose();
      await pg?.dispose();
      if (diskDir) {
        execFileSync("umount", [diskDir]);
        await rm(diskDir, { recursive: true, force: true });
      }
      if (dir) await rm(dir, { recursive: true, force: true });
    }, 60_000);

    it("kill -9 of a proplet mid-run", async () => {
      await runScenario("kill -9 a proplet", async () => {
        const victim = proplets[0]!;
        kill9(victim);
        await new Promise((r) => setTimeout(r, 2000));
        startProplet(victim);
      });
    }, SETTLE_MS * 2 + 120_000);

    it("a broker restart", async () => {
      await runScenario("broker restart", async () => {
        await mosquitto.stop();
        await new Promise((r) => setTimeout(r, 2000));
        await mosquitto.start();
      });
    }, SETTLE_MS * 2 + 120_000);

    it("kill -9 of the manager, restarted", async () => {
      await runScenario("kill -9 the manager", async () => {
        kill9(manager);
        await new Promise((r) => setTimeout(r, 1000));
        startManager();
      });
    }, SETTLE_MS * 2 + 120_000);

    it("a flaky link between the proplets and the broker", async () => {
      await runScenario("flaky proplet link (50 ms, cut every ~3 s for 20 s)", async () => {
        const before = link.cuts;
        link.setFaults({ delayMs: 50, cutEveryMs: 3000 });
        await new Promise((r) => setTimeout(r, 20_000));
        link.setFaults({ delayMs: 0, cutEveryMs: 0 });
        expect(link.cuts - before, "the link cut connections").toBeGreaterThan(0);
      });
    }, SETTLE_MS * 2 + 120_000);

    it("kill -9 of the KBS while proplets attest, restarted", async () => {
      const plaintext = new Uint8Array(await readFile(join(REPO_ROOT, "examples", "primes", "primes.wasm")));
      const sealed = await sealWorkload(plaintext, kbsAdmin, "chaos/key/primes", "sample");
      const spec = { kbsUrl, resource: sealed.resource, plaintextDigest: sealed.plaintextDigest, tee: "sample" as const };
      await runScenario(
        "kill -9 the KBS (back after 2 s; confidential tasks)",
        async () => {
          kill9(kbs);
          await new Promise((r) => setTimeout(r, 2000));
          startKbsProcess();
        },
        (_i, name, args) => confidentialTaskBody(name, sealed.ciphertext, spec, { args }),
      );
    }, SETTLE_MS * 2 + 120_000);

    it("a full disk under PostgreSQL", async (context) => {
      if (!diskDir) return context.skip("cannot mount a tmpfs here (needs root and mount permission)");
      const filler = join(diskDir, "filler");
      await runScenario("full disk under PostgreSQL (10 s)", async () => {
        await fillDisk(filler);
        // PostgreSQL still fills free room in its pages; what needs a new page is refused. Each
        // submission is either stored (201, then counted like the others) or refused with 503.
        const artifact = await exampleArtifact("primes/primes.wasm");
        const accepted: string[] = [];
        const refusals: string[] = [];
        for (let i = 0; i < 40; i++) {
          const r = await api("POST", "/tasks", { name: `while-full-${i}`, artifact, args: ["300000"], onPropletLoss: "reschedule", retry: { maxAttempts: 3, backoffMs: 200 }, start: true });
          if (r.status === 201) accepted.push(r.body.id as string);
          else {
            expect(r.status, JSON.stringify(r.body)).toBe(503);
            refusals.push(r.body.code as string);
          }
        }
        expect(refusals.every((c) => c === "database_disk_full" || c === "database_unavailable"), refusals.join(", ")).toBe(true);
        diskRefusals = refusals.length;
        await new Promise((r) => setTimeout(r, 10_000));
        await rm(filler, { force: true });
        return accepted;
      });
    }, SETTLE_MS * 2 + 120_000);

    it("a PostgreSQL restart", async () => {
      await runScenario("PostgreSQL restart", async () => {
        await pg.restart();
      });
    }, SETTLE_MS * 2 + 120_000);
  },
);

/** A 1 GiB tmpfs at `path` for the database cluster, or null when mounting is not allowed. */
function mountSmallDisk(path: string): string | null {
  try {
    // mode=0755: the database server's own user must reach the cluster below it.
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1024m,mode=0755", "tmpfs", path], { stdio: "ignore" });
  } catch {
    return null;
  }
  try {
    execFileSync("chown", ["postgres:postgres", path]);
    return path;
  } catch {
    execFileSync("umount", [path]);
    return null;
  }
}

/** Writes `path` until the file system under it has no byte left. */
async function fillDisk(path: string): Promise<void> {
  const { bavail, bsize } = await statfs(dirname(path));
  const chunk = Buffer.alloc(1024 * 1024);
  const file = await open(path, "w");
  try {
    for (let left = Number(bavail) * Number(bsize); left > 0; left -= chunk.length) await file.write(chunk, 0, Math.min(chunk.length, left));
    // Whatever the last partial chunk left: write byte by byte until ENOSPC.
    for (;;) await file.write(Buffer.alloc(4096));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
  } finally {
    await file.close();
  }
}
