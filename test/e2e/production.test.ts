/**
 * docker-compose.yml exercised without Docker: the `certs` service's own script makes the PKI, the
 * Mosquitto config and the keys; a real Mosquitto runs that config (mTLS + generated ACL); `kbs
 * serve`, `manager serve` and two `proplet serve` run as child processes (node bin/propeller.js)
 * with the environment docker-compose.yml gives them — only hosts, paths and ports rewritten —
 * against the real PostgreSQL. Then, through the CLI as an operator would: a task end to end, the
 * confidential flow (encrypted workload, attested key release, receipt), health checks, and a
 * rogue holding another proplet's certificate that cannot read proplet-1's tasks.
 *
 * The one change beyond hosts/paths/ports is the operator's documented opt-in (compose
 * interpolation): PROPELLER_KBS_DEVELOPMENT=true and PROPELLER_PROPLET_1_TEE={"type":"sample"},
 * because this machine has no TPM; the sample TEE proves nothing.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile, chmod, mkdir } from "node:fs/promises";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MqttConnection } from "../../mqtt/index.js";
import { Topics } from "../../protocol/topics.js";
import { certsScript, loadCompose, type ComposeFile } from "../../testing/compose.js";
import { freePort, waitFor } from "../../testing/net.js";
import { EXAMPLES_DIR, REPO_ROOT } from "../../testing/paths.js";
import { createTestDatabase, type TestDatabase } from "../../testing/postgres.js";
import { stopProcess } from "../../testing/process.js";
import { startMosquittoWithConfig, type RunningMosquitto } from "../../testing/tls.js";

const run = promisify(execFile);
const BIN = join(REPO_ROOT, "bin", "propeller.js");
const LOG_LEVEL = process.env.PROPELLER_TEST_LOG ?? "warn";

interface Service {
  name: string;
  env: Record<string, string>;
  proc: ChildProcess;
  output: () => string;
}

let root: string;
let certs: string;
let compose: ComposeFile;
let ports: { mqtt: number; kbs: number; manager: number };
let mosquitto: RunningMosquitto | undefined;
const dbs: TestDatabase[] = [];
const services = new Map<string, Service>();
let apiKey: string;
let managerUrl: string;
let kbsUrl: string;

/** Rewrites a compose value for this machine: hosts, paths and ports only. */
function localize(service: string, key: string, value: string): string {
  // The containers' /tmp (a tmpfs) is a directory of this test per service.
  if (value === "/tmp") return join(root, `${service}-work`);
  if (value.startsWith("/tmp/")) return join(root, `${service}-${value.slice(5)}`);
  let v = value.replaceAll("/certs/", `${certs}/`);
  if (v === "/certs") v = certs;
  v = v.replace("mqtts://mosquitto:8883", `mqtts://127.0.0.1:${ports.mqtt}`);
  if (key === "PROPELLER_KBS_LISTEN") v = `127.0.0.1:${ports.kbs}`;
  if (key === "PROPELLER_HTTP_HOST") v = "127.0.0.1";
  if (key === "PROPELLER_HTTP_PORT") v = String(ports.manager);
  if (key === "PROPELLER_DATABASE_URL") v = dbs[0]!.url; // host and database name
  if (key === "PROPELLER_KBS_DATABASE_URL") v = dbs[1]!.url;
  return v;
}

function envOf(service: string): Record<string, string> {
  const env = compose.services[service]!.environment ?? {};
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, localize(service, k, v)]));
}

/** A service's health check, as compose would run it inside its container (ports and paths localized). */
async function healthy(service: string): Promise<boolean> {
  const test = compose.services[service]!.healthcheck!.test.slice(1).map((arg) =>
    arg
      .replaceAll("/certs/", `${certs}/`)
      .replace("localhost:8080", `localhost:${ports.kbs}`)
      .replace("localhost:7070", `localhost:${ports.manager}`)
      .replace("'/tmp/healthy'", `'${join(root, `${service}-healthy`)}'`),
  );
  if (service === "mosquitto") test.splice(test.indexOf("-p") + 1, 1, String(ports.mqtt));
  try {
    await run(test[0]!, test.slice(1), { env: { PATH: process.env.PATH ?? "", ...envOf(service) }, timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

async function startService(name: string): Promise<Service> {
  const svc = compose.services[name]!;
  const env = envOf(name);
  if (env.PROPELLER_WORK_DIR) await mkdir(env.PROPELLER_WORK_DIR, { recursive: true });
  const proc = spawn(process.execPath, [BIN, ...svc.command!], {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", HOME: root, PROPELLER_LOG_LEVEL: LOG_LEVEL, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  proc.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  proc.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  const service = { name, env, proc, output: () => output };
  services.set(name, service);
  return service;
}

async function untilHealthy(name: string, timeoutMs = 30_000): Promise<void> {
  const s = services.get(name);
  await waitFor(
    async () => {
      if (s && s.proc.exitCode !== null) throw new Error(`${name} exited (${s.proc.exitCode}): ${s.output()}`);
      return healthy(name);
    },
    timeoutMs,
    `${name} healthy`,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${s?.output() ?? mosquitto?.log() ?? ""}`);
  });
}

/** The CLI as an operator runs it: a child process that trusts the deployment's CA and holds the admin API key. */
async function cli(args: string[], extraEnv: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      {
        cwd: root,
        timeout: 60_000,
        env: { PATH: process.env.PATH ?? "", HOME: root, NODE_EXTRA_CA_CERTS: join(certs, "ca.pem"), PROPELLER_TOKEN: apiKey, PROPELLER_MANAGER_URL: managerUrl, PROPELLER_LOG_LEVEL: "warn", ...extraEnv },
      },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, out: stdout, err: stderr }),
    );
  });
}

/** HTTPS GET trusting only the deployment's CA. */
async function get(url: string, token?: string): Promise<{ status: number; body: string }> {
  const ca = await readFile(join(certs, "ca.pem"));
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, headers: token ? { authorization: `Bearer ${token}` } : {}, timeout: 10_000 }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** The certs service's script, with paths, the listener host and port localized. */
function localizedCertsScript(): string {
  let script = certsScript(compose).replace("--port 8883", `--port ${ports.mqtt}`).replace("--host 0.0.0.0", "--host 127.0.0.1").replace("/mosquitto/data", join(root, "mosquitto-data"));
  // As root Mosquitto drops to the user "mosquitto", which cannot read this test's 0700 temp dirs.
  if (process.getuid?.() === 0) script = script.replace(/(propeller broker config [^\n]+)/, "$1 --user root");
  return script;
}

async function runCertsService(): Promise<string> {
  const shim = join(root, "bin");
  await mkdir(shim, { recursive: true });
  await writeFile(join(shim, "propeller"), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
  await chmod(join(shim, "propeller"), 0o755);
  const { stdout } = await run("/bin/sh", ["-euc", localizedCertsScript()], {
    env: { PATH: `${shim}:${process.env.PATH ?? ""}`, HOME: root, ...envOf("certs") },
    timeout: 120_000,
  });
  return stdout;
}

describe("production configuration (docker-compose.yml) without Docker", () => {
  beforeAll(async () => {
    // The services run the build (node bin/propeller.js), as in the image.
    await run("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: REPO_ROOT, timeout: 300_000 });
    root = await mkdtemp(join(tmpdir(), "propeller-production-"));
    compose = await loadCompose({ PROPELLER_KBS_DEVELOPMENT: "true", PROPELLER_PROPLET_1_TEE: '{"type":"sample"}' });
    ports = { mqtt: await freePort(), kbs: await freePort(), manager: await freePort() };
    // The `certs` volume, mounted at /certs in every container, is this directory.
    expect(compose.services.certs!.environment!.PROPELLER_CERTS_DIR).toBe("/certs");
    certs = join(root, "certs");
    dbs.push(await createTestDatabase("prod_manager"), await createTestDatabase("prod_kbs"));

    const made = await runCertsService();
    expect(made).toMatch(/certs: done/);
    apiKey = (await readFile(join(certs, "manager-api-key"), "utf8")).trim();
    mosquitto = await startMosquittoWithConfig(join(certs, "mosquitto", "mosquitto.conf"), ports.mqtt);
    await untilHealthy("mosquitto");
    await startService("kbs");
    await untilHealthy("kbs");
    kbsUrl = `https://localhost:${ports.kbs}`;
    await startService("manager");
    await untilHealthy("manager");
    managerUrl = `https://localhost:${ports.manager}`;
    await startService("proplet-1");
    await startService("proplet-2");
    await untilHealthy("proplet-1");
    await untilHealthy("proplet-2");
  }, 420_000);

  afterAll(async () => {
    for (const s of [...services.values()].reverse()) await stopProcess(s.proc);
    await mosquitto?.stop();
    for (const db of dbs) await db.drop().catch(() => undefined);
    if (root) await rm(root, { recursive: true, force: true });
  });

  it("the certs service made keys readable only by their owner, and does nothing the second time", async () => {
    for (const key of ["ca.key", "broker.key", "manager-client.key", "proplet-1.key", "kbs-master.key", "manager-api-key", "db-password", "kbs-admin/ops.key.jwk"]) {
      expect((await stat(join(certs, key))).mode & 0o077, key).toBe(0);
    }
    const before = await readFile(join(certs, "ca.pem"), "utf8");
    const second = await runCertsService();
    expect(second).toMatch(/nothing to do/);
    expect(await readFile(join(certs, "ca.pem"), "utf8")).toBe(before);
    expect((await readFile(join(certs, "manager-api-key"), "utf8")).trim()).toBe(apiKey);
  });

  it("the manager serves HTTPS only, with every route but /health behind a credential; the proplets are their certificates", async () => {
    expect((await get(`${managerUrl}/health`)).status).toBe(200);
    expect((await get(`${managerUrl}/tasks`)).status).toBe(401);
    await waitFor(async () => {
      const r = await get(`${managerUrl}/proplets`, apiKey);
      const items = (JSON.parse(r.body) as { items: Array<{ id: string; alive: boolean }> }).items;
      return items.filter((p) => p.alive).map((p) => p.id).sort().join(",") === "proplet-1,proplet-2";
    }, 20_000, "both proplets alive at the manager");
    // Plain HTTP is not spoken on that port.
    await expect(fetch(`http://127.0.0.1:${ports.manager}/health`)).rejects.toThrow();
  });

  it("a task end to end through the CLI", async () => {
    const r = await cli(["run", join(EXAMPLES_DIR, "hello", "hello.wasm"), "production"]);
    expect(r.code, `${r.out}\n${r.err}`).toBe(0);
    expect(r.out).toContain("Hello, production!");
  });

  it("confidential: encrypt → attested key release (sample TEE, KBS over HTTPS) → run on proplet-1 → receipt verified offline", async () => {
    const adminKey = join(certs, "kbs-admin", "ops.key.jwk");
    const policyFile = join(root, "sample-appraisal.json");
    await writeFile(policyFile, JSON.stringify({ id: "production-e2e/sample", requireReferenceValues: false, unsafeClaims: [] }));
    const policy = await cli(["kbs", "attestation-policy", "set", "sample", policyFile, "--kbs", kbsUrl, "--admin-key", adminKey]);
    expect(policy.code, policy.err).toBe(0);

    const wasm = join(EXAMPLES_DIR, "hello", "hello.wasm");
    const sealed = join(root, "hello.wasm.age");
    const enc = await cli(["encrypt", wasm, "--out", sealed, "--kbs", kbsUrl, "--resource", "prod/key/hello", "--tee", "sample", "--admin-key", adminKey, "--json"]);
    expect(enc.code, enc.err).toBe(0);
    const { plaintextDigest, resource } = JSON.parse(enc.out) as { plaintextDigest: string; resource: string };
    const receipt = join(root, "receipt.jws");
    const r = await cli(["run", sealed, "secret-arg", "--confidential", "--tee", "sample", "--kbs", kbsUrl, "--resource", resource, "--plaintext-digest", plaintextDigest, "--receipt-out", receipt]);
    expect(r.code, `${r.out}\n${r.err}`).toBe(0);
    expect(r.out).toContain("Hello, secret-arg!");
    expect(r.err).toMatch(/on proplet-1/); // the only proplet with a TEE
    expect(r.err).toMatch(/✔ token.key-binding/);
    const offline = await cli(["receipt", "verify", receipt, "--jwks", `${kbsUrl}/.well-known/jwks.json`, "--expect-workload", plaintextDigest]);
    expect(offline.code, offline.out).toBe(0);
  });

  it("a rogue with another proplet's certificate (issued by the same CA) cannot read proplet-1's tasks", async () => {
    // How an operator adds a proplet: issue its certificate; the ACL's pattern rules need no change.
    const issued = await cli(["certs", "issue", "proplet", "proplet-3", "--dir", certs]);
    expect(issued.code, issued.err).toBe(0);
    const topics = new Topics(compose.services["proplet-1"]!.environment!.PROPELLER_TOPIC_ROOT ?? "propeller/v1");
    const rogue = await MqttConnection.connect({
      url: `mqtts://127.0.0.1:${ports.mqtt}`,
      clientId: "proplet-3",
      tls: { ca: await readFile(join(certs, "ca.pem")), cert: await readFile(join(certs, "proplet-3.pem")), key: await readFile(join(certs, "proplet-3.key")) },
      reconnectPeriodMs: 0,
    });
    try {
      const stolen: string[] = [];
      // Mosquitto grants these SUBSCRIBEs and filters every delivery by the ACL's read rules.
      await rogue.subscribe(topics.proplet("proplet-1", "tasks/start"), (t) => void stolen.push(t)).catch(() => undefined);
      await rogue.subscribe(`${topics.root}/#`, (t) => void stolen.push(t)).catch(() => undefined);
      const r = await cli(["run", join(EXAMPLES_DIR, "hello", "hello.wasm"), "for-proplet-1", "--target", "proplet-1"]);
      expect(r.code, `${r.out}\n${r.err}`).toBe(0);
      expect(r.out).toContain("Hello, for-proplet-1!");
      await new Promise((res) => setTimeout(res, 500));
      expect(rogue.connected).toBe(true);
      expect(stolen).toEqual([]);
    } finally {
      await rogue.close();
    }
  });

  it("SIGTERM stops every service gracefully (exit code 0)", async () => {
    for (const name of ["proplet-2", "proplet-1", "manager", "kbs"]) {
      const s = services.get(name)!;
      const exited = new Promise<number | null>((res) => s.proc.once("exit", (code) => res(code)));
      s.proc.kill("SIGTERM");
      expect(await exited, `${name}: ${s.output()}`).toBe(0);
    }
  });
});
