/**
 * The CLI as a new user meets it: the built `propeller` binary (as `npm ci` leaves it), a home and a
 * state directory that have never been used, and the usual mistakes: no command, a wrong flag, a
 * file that is not there, a file that is not Wasm, a manager that is not running. Every refusal
 * says what to do next; results go to stdout, logs and progress to stderr; `up` keeps its state,
 * and every command finds the manager and token it wrote.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer, type AddressInfo } from "node:net";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLES_DIR, REPO_ROOT } from "../../testing/paths.js";
import { freePort } from "../../testing/net.js";
import { openDatabase } from "../../db/index.js";

const BIN = join(REPO_ROOT, "bin", "propeller.js");
/** What an error message names as the next step: a command to run, or what to give or change. */
const NEXT_STEP = /`propeller [^`]+`|\bgive\b|\bpass\b|\bstart (it|one)\b|\bcorrect\b/;

let home: string;
let env: NodeJS.ProcessEnv;
const children: ChildProcess[] = [];

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "propeller-newuser-"));
  // A user with nothing configured: no PROPELLER_* variables, a fresh home.
  env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("PROPELLER_") && k !== "XDG_STATE_HOME"));
  env.HOME = home;
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  await rm(home, { recursive: true, force: true });
});

function propeller(args: string[], extra: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: home, env: { ...env, ...extra }, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, out: stdout, err: stderr });
    });
  });
}

/** Starts `propeller up`; resolves with its stdout once `ready` matches it. */
async function up(args: string[], ready: RegExp): Promise<{ child: ChildProcess; out: () => string; err: () => string }> {
  const child = spawn(process.execPath, [BIN, "up", ...args], { cwd: home, env, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const deadline = Date.now() + 90_000;
  while (!ready.test(out)) {
    if (child.exitCode !== null) throw new Error(`up exited ${child.exitCode}: ${err}`);
    if (Date.now() > deadline) throw new Error(`up did not start: ${out}\n${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, out: () => out, err: () => err };
}

async function stop(child: ChildProcess): Promise<number | null> {
  child.kill("SIGTERM");
  while (child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
  return child.exitCode;
}

describe("first use", () => {
  it("no command: the overview on stderr and exit 2; every command answers --help", async () => {
    const none = await propeller([]);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/usage: propeller <command>/);
    const help = await propeller(["run", "--help"]);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/^usage: propeller run /);
    // --help runs nothing: `up --help` starts no stack and leaves no state.
    const upHelp = await propeller(["up", "-h"]);
    expect(upHelp.code).toBe(0);
    expect(upHelp.out).toContain("--state-dir");
  });

  it("a wrong flag, a missing file, a file that is not Wasm: each says what was wrong and what to do", async () => {
    const flag = await propeller(["run", "app.wasm", "--tiemout", "5"]);
    expect(flag.code).toBe(2);
    expect(flag.err).toMatch(/unknown option --tiemout \(did you mean --timeout\?\); valid options: .*`propeller run --help`/);

    const missing = await propeller(["run", "hello.wasm"]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/cannot read hello\.wasm: no such file; give the path of a compiled \.wasm file/);

    await writeFile(join(home, "hello.wat"), "(module)\n");
    const text = await propeller(["run", "hello.wat"]);
    expect(text.code).toBe(2);
    expect(text.err).toMatch(/hello\.wat is not a WebAssembly module .*wat2wasm.*give a \.wasm file/);

    await writeFile(join(home, "random.bin"), Buffer.from([0xde, 0xad, 0xbe, 0xef, 0, 1, 2]));
    const binary = await propeller(["task", "create", "random.bin"]);
    expect(binary.code).toBe(2);
    expect(binary.err).toMatch(/random\.bin is not a WebAssembly module/);

    const sub = await propeller(["task", "frob"]);
    expect(sub.code).toBe(2);
    for (const r of [flag, missing, text, binary, sub]) {
      expect(r.out).toBe("");
      expect(r.err).toMatch(NEXT_STEP);
    }
  });

  it("a manager that is not running: says so, and how to start one", async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const r = await propeller(["task", "list"], { PROPELLER_MANAGER_URL: url });
    expect(r.code).toBe(1);
    expect(r.err).toContain(`cannot reach the manager at ${url}`);
    expect(r.err).toMatch(/Start one with `propeller up`, or correct PROPELLER_MANAGER_URL/);
  });

  it("up on a port another program holds: says which and how to choose another", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const r = await propeller(["up", "--ephemeral", "--port", String(port), "--no-kbs", "--proplets", "1"]);
      expect(r.code).toBe(2);
      expect(r.err).toContain(`port ${port} on 127.0.0.1 is already in use (another \`propeller up\`, or another program): stop it, or choose another with --port P`);
      expect(r.err).not.toMatch(/\n\s+at /);
    } finally {
      server.close();
    }
  }, 120_000);

  it("up keeps its state in one directory; every command finds the manager there; a restart keeps tasks and schedules", async () => {
    const state = join(home, "state");
    const first = await up(["--state-dir", state, "--port", "0", "--kbs-port", "0", "--proplets", "1", "--json"], /\}\n/);
    const info = JSON.parse(first.out()) as { stateDir: string; managerUrl: string; tokenFile: string; kbsUrl: string; kbsAdminKeyFile: string };
    expect(info.stateDir).toBe(state);
    expect(info.tokenFile).toBe(join(state, "manager-token"));

    // No --manager, no --token: found through the state directory (flag or variable).
    const list = await propeller(["task", "list", "--state-dir", state, "--json"]);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.out)).toMatchObject({ items: [] });
    const viaEnv = { PROPELLER_STATE_DIR: state };

    // A secret env value, read from the user's environment: the guest exits with atoi(EXIT_CODE).
    const secret = `+0000000042-first-use-${randomBytes(8).toString("hex")}`;
    const withSecret = await propeller(["run", join(EXAMPLES_DIR, "hello", "hello.wasm"), "--secret-env", "EXIT_CODE"], { ...viaEnv, EXIT_CODE: secret });
    expect(withSecret.code).toBe(42);
    expect(withSecret.out + withSecret.err).not.toContain(secret.slice(12));

    // A confidential run: the CLI encrypts the module, stores its key in up's KBS (found, with its
    // admin key, through the state directory too), sends ciphertext only.
    expect(info.kbsAdminKeyFile).toBe(join(state, "kbs-admin.key.jwk"));
    const sealed = await propeller(["run", join(EXAMPLES_DIR, "primes", "primes.wasm"), "1000", "--confidential", "--tee", "sample"], viaEnv);
    expect(sealed.code, sealed.err).toBe(0);
    expect(sealed.out).toContain("168 primes");

    // The result (an export's return value) is stdout, alone; progress and the receipt on stderr.
    const addRun = await propeller(["run", join(EXAMPLES_DIR, "add", "add.wasm"), "--export", "add", "--input", "40", "--input", "2"], viaEnv);
    expect(addRun.code).toBe(0);
    expect(addRun.out).toBe("42\n");
    expect(addRun.err).toMatch(/completed, on proplet-1, returned \[42\]/);
    expect(addRun.err).not.toMatch(/^\{"level"/m);

    const cron = await propeller(["task", "create", join(EXAMPLES_DIR, "hello", "hello.wasm"), "--name", "nightly", "--cron", "0 3 * * *", "--json"], viaEnv);
    expect(cron.code).toBe(0);
    const cronTask = JSON.parse(cron.out) as { id: string };

    // One `up` per state directory.
    const second = await propeller(["up", "--state-dir", state, "--port", "0"]);
    expect(second.code).toBe(2);
    expect(second.err).toMatch(/another `propeller up` \(pid \d+\) is using .*state; stop it first, or give this one its own --state-dir/);

    expect(await stop(first.child)).toBe(0);
    // up's stdout held its one JSON document and nothing else (the logs went to stderr).
    expect(first.out().trim().split("\n")).toHaveLength(1);

    const down = await propeller(["task", "list", "--state-dir", state]);
    expect(down.code).toBe(1);
    expect(down.err).toContain(`the manager \`propeller up\` started with state in ${state} is not running: start it again with \`propeller up --state-dir ${state}\``);

    // Restarted on the same directory: the tasks, the schedule and the history are there.
    const again = await up(["--state-dir", state, "--port", "0", "--kbs-port", "0", "--proplets", "1", "--no-kbs"], /^try: /m);
    expect(again.out()).toContain(`state     ${state}   (kept`);
    expect(again.out()).not.toMatch(/^\{/m);
    const after = await propeller(["task", "list", "--json"], viaEnv);
    const names = (JSON.parse(after.out) as { items: Array<{ name: string }> }).items.map((t) => t.name).sort();
    expect(names).toEqual(["add.wasm", "hello.wasm", "nightly", "primes.wasm"]);
    const kept = await propeller(["task", "get", cronTask.id, "--json"], viaEnv);
    expect(JSON.parse(kept.out)).toMatchObject({ schedule: { cron: "0 3 * * *" } });
    const runs = await propeller(["task", "runs", (JSON.parse(after.out) as { items: Array<{ id: string; name: string }> }).items.find((t) => t.name === "add.wasm")!.id], viaEnv);
    expect(runs.out).toMatch(/completed, on proplet-1, returned \[42\]/);
    expect(await stop(again.child)).toBe(0);

    // At rest, in the whole state directory (its files as bytes, and both databases read back as
    // text): no secret value, no age identity (a workload key), no plaintext of the confidential module.
    const primes = await readFile(join(EXAMPLES_DIR, "primes", "primes.wasm"));
    const chunk = primes.subarray(primes.length >> 1, (primes.length >> 1) + 64);
    const needles = [Buffer.from(secret.slice(12)), Buffer.from("AGE-SECRET-KEY-1"), chunk];
    const textNeedles = [secret.slice(12), "AGE-SECRET-KEY-1", chunk.toString("hex"), chunk.toString("base64").slice(4, 60)];
    let files = 0;
    for (const entry of await readdir(state, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const content = await readFile(join(entry.parentPath, entry.name));
      files++;
      for (const n of needles) expect(content.includes(n), `${join(entry.parentPath, entry.name)} holds a secret`).toBe(false);
    }
    expect(files).toBeGreaterThan(100);
    let rows = "";
    for (const db of ["manager-db", "kbs-db"]) {
      const open = await openDatabase(`pglite://${join(state, db)}`);
      try {
        const tables = await open.query<{ schemaname: string; tablename: string }>("SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')");
        for (const t of tables.rows) rows += (await open.query<{ row: string }>(`SELECT row_to_json(x)::text AS row FROM "${t.schemaname}"."${t.tablename}" x`)).rows.map((r) => r.row).join("\n");
      } finally {
        await open.close();
      }
    }
    // What the scan must see: the sealed task, the confidential task, the KBS resource.
    expect(rows).toContain("sealedSecretEnv");
    expect(rows).toContain("kbs:///propeller/workload/");
    // And it would see a module's bytes: the plain add.wasm run earlier is stored, and found.
    const add = await readFile(join(EXAMPLES_DIR, "add", "add.wasm"));
    expect(rows).toContain(add.subarray(add.length >> 1, (add.length >> 1) + 32).toString("hex"));
    for (const n of textNeedles) expect(rows.includes(n), `a database holds ${n.slice(0, 12)}…`).toBe(false);
  }, 240_000);
});
