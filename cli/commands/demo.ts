import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { sha256Digest } from "../../protocol/index.js";
import { cliLogger } from "../logger.js";
import { ManagerClient } from "../manager-client.js";
import type { Output } from "../output.js";
import { startStack } from "../stack.js";
import { parse } from "../args.js";
import { confidentialTaskBody, sealWorkload, verifyRunReceipt, type SealedWorkload } from "../confidential.js";
import { loadJwks } from "../jwks-source.js";
import { main } from "../main.js";
import type { Task } from "../../protocol/api/index.js";
import { messageOf } from "../../lib/errors.js";


/** Finds examples/ both from source (cli/commands) and from the build (dist/cli/commands). */
function examplePath(...parts: string[]): string {
  const fromHere = fileURLToPath(new URL("../../", import.meta.url));
  const root = fromHere.endsWith("/dist/") ? join(fromHere, "..") : fromHere;
  return join(root, "examples", ...parts);
}

interface Step {
  title: string;
  run(): Promise<string>;
}

/**
 * `propeller demo`: the main job end to end on the embedded defaults — start the stack, submit the
 * example workloads, wait for their results, check them. Prints each step; exits non-zero when any
 * step fails.
 */
export async function demoCommand(argv: string[], io: Output): Promise<number> {
  const { values } = parse("demo", argv, { "log-level": { type: "string" }, "log-file": { type: "string" }, json: { type: "boolean" } }, false);
  // The readable output is the steps; the boxes' logs (warnings included: the demo provokes
  // failures on purpose) go to a file, named at the end.
  const scratch = await mkdtemp(join(tmpdir(), "propeller-demo-"));
  const logFile = values["log-file"] ?? join(tmpdir(), `propeller-demo-${new Date().toISOString().replace(/[:.]/g, "-")}.log`);
  const logger = cliLogger(values["log-level"] ?? "info", logFile);
  const say = (text: string) => {
    if (!values.json) io.out(text);
  };
  say("Propeller demo: embedded broker (aedes), embedded database (PGlite), manager, KBS, 2 proplets");
  say("(the KBS runs in DEVELOPMENT mode and the proplets attest with the sample TEE, which proves nothing:");
  say(" the same path runs with real TPM / SNP / TDX attesters and verifiers in production)\n");
  // Our own database folder, so the last step can read what was stored after the stack closed.
  const dbDir = join(scratch, "manager-db");
  const databaseUrl = `pglite://${dbDir}`;
  const stack = await startStack({ proplets: 2, logger, kbs: true, databaseUrl, secretsKey: randomBytes(32) });
  const kbsModule = await import("../../kbs/index.js");
  const kbs = stack.kbs!;
  const admin = { url: kbs.url, token: () => kbsModule.mintAdminToken(kbs.adminKey, { keyId: String(kbs.adminKey.kid), subject: "demo" }) };
  let sealed: SealedWorkload | undefined;
  let confidentialTask: Task | undefined;
  const secretValue = `+0000000042-demo-secret-${randomBytes(8).toString("hex")}`;
  const client = new ManagerClient({ baseUrl: stack.managerUrl, token: stack.managerToken });
  let failed = 0;

  const runTask = async (body: Record<string, unknown>) => {
    const created = await client.createTask({ ...body, start: true });
    const task = await client.waitForFinish(created.id, 60_000);
    const run = task.latestRun;
    if (task.state !== "completed" || !run?.result) {
      throw new Error(`task ${task.id} ended ${task.state}: ${run?.result?.error ? `${run.result.error.code}: ${run.result.error.message}` : "no result"}`);
    }
    return { task, run, result: run.result };
  };
  const inline = async (file: string) => {
    const bytes = await readFile(examplePath(file));
    return { digest: sha256Digest(bytes), inline: bytes.toString("base64") };
  };

  const steps: Step[] = [
    {
      title: "proplets announced themselves to the manager",
      run: async () => {
        const deadline = Date.now() + 15_000;
        for (;;) {
          const { items } = await client.proplets();
          const alive = items.filter((p) => p.alive).map((p) => p.id);
          if (alive.length >= 2) return `live: ${alive.join(", ")}`;
          if (Date.now() > deadline) throw new Error(`only ${alive.length} live proplet(s) after 15 s`);
          await new Promise((r) => setTimeout(r, 100));
        }
      },
    },
    {
      title: "WASI command with args, env and stdin (examples/hello)",
      run: async () => {
        const { run, result } = await runTask({
          name: "hello",
          artifact: await inline("hello/hello.wasm"),
          args: ["demo"],
          env: { GREETING: "Hello" },
          stdin: Buffer.from("from stdin").toString("base64"),
        });
        if (!result.stdout.includes("demo") || !result.stdout.includes("from stdin")) {
          throw new Error(`unexpected output: ${JSON.stringify(result.stdout)}`);
        }
        return `${run.propletId} printed ${JSON.stringify(result.stdout.trim())}, exit code ${result.exitCode}`;
      },
    },
    {
      title: "named export called with numeric arguments (examples/add)",
      run: async () => {
        const { run, result } = await runTask({
          name: "add",
          artifact: await inline("add/add.wasm"),
          entrypoint: { kind: "export", name: "add", inputs: [40, 2] },
        });
        if (JSON.stringify(result.returnValues) !== "[42]") throw new Error(`add(40, 2) returned ${JSON.stringify(result.returnValues)}`);
        return `${run.propletId}: add(40, 2) = ${result.returnValues?.[0]}`;
      },
    },
    {
      title: "component export called with WAVE arguments (examples/components/calc, jco + preview2-shim)",
      run: async () => {
        const { run, result } = await runTask({
          name: "calc",
          runtime: "component",
          artifact: await inline("components/calc/calc.wasm"),
          entrypoint: { kind: "export", name: "checked-div", args: "7, 2" },
        });
        // The run view carries the export's result as WAVE text next to the numeric return values.
        const wave = result.returnWave;
        if (wave !== "ok(3)") throw new Error(`checked-div(7, 2) returned ${JSON.stringify(wave)}`);
        return `${run.propletId}: checked-div(7, 2) = ${wave}`;
      },
    },
    {
      title: "CPU-bound workload (examples/primes)",
      run: async () => {
        const { run, result } = await runTask({ name: "primes", artifact: await inline("primes/primes.wasm"), args: ["100000"] });
        if (!result.stdout.includes("9592")) throw new Error(`expected 9592 primes below 100000, got ${JSON.stringify(result.stdout)}`);
        return `${run.propletId}: ${result.stdout.trim()}`;
      },
    },
    {
      title: "a broken workload fails cleanly and the proplets keep serving",
      run: async () => {
        const bytes = Buffer.from("not wasm at all");
        const created = await client.createTask({ name: "broken", artifact: { digest: sha256Digest(bytes), inline: bytes.toString("base64") }, start: true });
        const task = await client.waitForFinish(created.id, 30_000);
        const error = task.latestRun?.result?.error;
        if (task.state !== "failed" || !error) throw new Error(`expected a failed task with an error, got ${task.state}`);
        return `failed as expected: ${error.code}: ${error.message}`;
      },
    },
  ];

  steps.push(
    {
      title: "encrypt examples/hello with a fresh age key; store the key in the KBS (policy: sample TEE, affirming)",
      run: async () => {
        sealed = await sealWorkload(await readFile(examplePath("hello/hello.wasm")), admin, "demo/workload/hello", "sample");
        return `plaintext ${sealed.plaintextDigest.slice(0, 19)}…, ciphertext ${sealed.ciphertextDigest.slice(0, 19)}…, key at ${sealed.resource}`;
      },
    },
    {
      title: "submit the ciphertext; attested key release on the proplet; run in memory",
      run: async () => {
        if (!sealed) throw new Error("no sealed workload (previous step failed)");
        const created = await client.createTask({
          ...confidentialTaskBody("hello (confidential)", sealed.ciphertext, { kbsUrl: kbs.url, resource: sealed.resource, plaintextDigest: sealed.plaintextDigest, tee: "sample" }, { args: ["confidential"], stdin: Buffer.from("sealed input").toString("base64") }),
          start: true,
        });
        confidentialTask = await client.waitForFinish(created.id, 60_000);
        const result = confidentialTask.latestRun?.result;
        if (confidentialTask.state !== "completed" || !result) throw new Error(`task ended ${confidentialTask.state}: ${result?.error ? `${result.error.code}: ${result.error.message}` : "no result"}`);
        if (!result.stdout.includes("confidential")) throw new Error(`unexpected output ${JSON.stringify(result.stdout)}`);
        return `${confidentialTask.latestRun!.propletId} printed ${JSON.stringify(result.stdout.split("\n")[0])}`;
      },
    },
    {
      title: "the manager checked the run's receipt before recording success",
      run: async () => {
        const check = confidentialTask?.latestRun?.receiptCheck;
        if (!check?.ok || !check.attested) throw new Error(`receipt check: ${check ? check.reason || "not attested" : "none"}`);
        return `attested receipt accepted (${check.checks.length} checks passed)`;
      },
    },
    {
      title: "anyone verifies the receipt offline: propeller receipt verify --jwks <KBS JWKS>",
      run: async () => {
        if (!confidentialTask || !sealed) throw new Error("no confidential run (previous step failed)");
        const { jws } = await verifyRunReceipt(client, confidentialTask, { kbsUrl: kbs.url, workloadDigest: sealed.plaintextDigest });
        await writeFile(join(scratch, "receipt.jws"), jws);
        await writeFile(join(scratch, "jwks.json"), JSON.stringify(await loadJwks(`${kbs.url}/.well-known/jwks.json`)));
        await writeFile(join(scratch, "stdout.txt"), Buffer.from(confidentialTask.latestRun!.result!.stdoutBase64, "base64"));
        const lines: string[] = [];
        const code = await main(["receipt", "verify", join(scratch, "receipt.jws"), "--jwks", join(scratch, "jwks.json"), "--expect-workload", sealed.plaintextDigest, "--expect-output", join(scratch, "stdout.txt")], { out: (t) => void lines.push(t), err: (t) => void lines.push(t) });
        if (code !== 0) throw new Error(lines.join("\n"));
        // Each check on its own line, whole (name, then what was checked).
        return lines.filter((l) => l.startsWith("✔")).map((l) => l.replace(/^✔ (\S+)\s+/, "✔ $1: ")).join("\n     ");
      },
    },
    {
      title: "a key whose policy refuses this TEE is not released: the task fails with the KBS's reason, nothing runs",
      run: async () => {
        const refused = await sealWorkload(await readFile(examplePath("add/add.wasm")), admin, "demo/workload/snp-only", "snp");
        const created = await client.createTask({
          ...confidentialTaskBody("snp only", refused.ciphertext, { kbsUrl: kbs.url, resource: refused.resource, plaintextDigest: refused.plaintextDigest, tee: "sample" }, { entrypoint: { kind: "export", name: "add", inputs: [1, 2] } }),
          start: true,
        });
        const task = await client.waitForFinish(created.id, 60_000);
        const error = task.latestRun?.result?.error;
        if (task.state !== "failed" || error?.code !== "kbs_denied") throw new Error(`expected kbs_denied, got ${task.state} ${error?.code}: ${error?.message}`);
        return `${error.code}: ${error.message}`;
      },
    },
  );

  steps.push({
    title: "a secret env value reaches the guest; the manager stores it sealed and never shows it",
    run: async () => {
      // hello exits with atoi(EXIT_CODE): 42 proves the guest read the value.
      const created = await client.createTask({ name: "secret", artifact: await inline("hello/hello.wasm"), secretEnv: { EXIT_CODE: secretValue }, start: true });
      const task = await client.waitForFinish(created.id, 60_000);
      const code = task.latestRun?.result?.exitCode;
      if (code !== 42) throw new Error(`the guest exited ${code}, not 42 from its secret EXIT_CODE`);
      if (JSON.stringify(task).includes(secretValue)) throw new Error("the task view shows the secret value");
      return `exit code 42 from EXIT_CODE; the task shows only its name (secretEnvNames ${JSON.stringify(task.secretEnvNames)})`;
    },
  });

  const report: Array<{ title: string; ok: boolean; detail: string; ms: number }> = [];
  const runStep = async (i: number, step: Step) => {
    const started = Date.now();
    try {
      const detail = await step.run();
      report.push({ title: step.title, ok: true, detail, ms: Date.now() - started });
      say(`✔ ${i + 1}. ${step.title}\n     ${detail} (${Date.now() - started} ms)`);
    } catch (err) {
      failed++;
      report.push({ title: step.title, ok: false, detail: messageOf(err), ms: Date.now() - started });
      say(`✘ ${i + 1}. ${step.title}\n     ${messageOf(err)}`);
    }
  };
  for (const [i, step] of steps.entries()) await runStep(i, step);
  await stack.close();
  // After the stack closed: what it left at rest, read back from its database folder.
  await runStep(steps.length, {
    title: "nothing secret at rest: the database holds no secret value, workload key or API token in plaintext",
    run: () => scanAtRest(databaseUrl, dbDir, [secretValue.slice(12), stack.managerToken]),
  });
  await rm(scratch, { recursive: true, force: true });
  if (values.json) io.out(JSON.stringify({ ok: failed === 0, steps: report, logFile }, null, 2));
  else {
    io.out(failed === 0 ? "\ndemo succeeded" : `\ndemo FAILED: ${failed} step(s) failed`);
    io.out(`logs: ${logFile}`);
  }
  return failed === 0 ? 0 : 1;
}

/** An age X25519 identity as text: a workload key in the clear. */
const AGE_IDENTITY = "AGE-SECRET-KEY-1";

/**
 * Every row of every table as text (what any SQL client sees, decompressed), and every file of the
 * database folder as bytes: none may hold a secret value, an age identity or the API token.
 */
async function scanAtRest(databaseUrl: string, dir: string, secrets: string[]): Promise<string> {
  const { openDatabase } = await import("../../db/index.js");
  const db = await openDatabase(databaseUrl);
  let rows = "";
  let tables = 0;
  try {
    const list = await db.query<{ schemaname: string; tablename: string }>("SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')");
    for (const t of list.rows) {
      tables++;
      const r = await db.query<{ row: string }>(`SELECT row_to_json(x)::text AS row FROM "${t.schemaname}"."${t.tablename}" x`);
      rows += r.rows.map((x) => x.row).join("\n") + "\n";
    }
  } finally {
    await db.close();
  }
  if (!rows.includes("sealedSecretEnv")) throw new Error("the scan did not find the sealed task it looks for");
  let files = 0;
  let bytes = 0;
  const needles = [...secrets, AGE_IDENTITY].map((n) => Buffer.from(n));
  const found: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const content = await readFile(join(entry.parentPath, entry.name));
    files++;
    bytes += content.length;
    if (needles.some((n) => content.includes(n))) found.push(join(entry.parentPath, entry.name));
  }
  const inRows = [...secrets, AGE_IDENTITY].filter((n) => rows.includes(n)).length;
  if (inRows > 0 || found.length > 0) throw new Error(`plaintext found at rest: ${inRows} in rows, in files ${found.join(", ")}`);
  return `${tables} tables (${rows.length} bytes as text) and ${files} files (${bytes} bytes) scanned: none holds them`;
}

