import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { sha256Digest } from "../../protocol/index.js";
import { cliLogger } from "../logger.js";
import { ManagerClient } from "../manager-client.js";
import type { Output } from "../output.js";
import { startStack } from "../stack.js";
import { parse } from "../args.js";


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
  const { values } = parse("demo", argv, { "log-level": { type: "string" } }, false);
  const logger = cliLogger(values["log-level"] ?? "warn");
  io.out("Propeller demo: embedded broker (aedes), embedded database (PGlite), manager, 2 proplets\n");
  const stack = await startStack({ proplets: 2, logger });
  const client = new ManagerClient({ baseUrl: stack.managerUrl });
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

  for (const [i, step] of steps.entries()) {
    const started = Date.now();
    try {
      const detail = await step.run();
      io.out(`✔ ${i + 1}. ${step.title}\n     ${detail} (${Date.now() - started} ms)`);
    } catch (err) {
      failed++;
      io.out(`✘ ${i + 1}. ${step.title}\n     ${(err as Error).message}`);
    }
  }
  await stack.close();
  io.out(failed === 0 ? "\ndemo succeeded" : `\ndemo FAILED: ${failed} step(s) failed`);
  return failed === 0 ? 0 : 1;
}
