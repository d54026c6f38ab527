/**
 * Start cost of a component run against a core module run, through the proplet's runtimes (a real
 * worker thread per run, real Wasm; no MQTT, no manager): wall time of `runtime.run()` from call
 * to report, for
 *   - a core module (wasi-p1): examples/add (export) and examples/hello (command);
 *   - the same workloads as components: examples/components/calc `add` (WAVE), hello-p2 (command),
 *     cold (a fresh transpile cache: jco transpile in its worker, then run) and warm (cached).
 *
 *   npm run bench -- components [--samples N]
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { ComponentRuntime, TranspileCache, WasiP1Runtime, type Runtime, type RunRequest } from "../proplet/execute/index.js";
import { REPO_ROOT } from "../testing/paths.js";
import { fmt, percentile } from "./stats.js";

const LIMITS = { timeoutMs: 60_000, memoryBytes: 64 * 1024 * 1024, outputBytes: 64 * 1024 };

function request(module: Uint8Array, entrypoint: RunRequest["entrypoint"]): RunRequest {
  return { runId: "bench", module, entrypoint, args: [], env: {}, stdin: new Uint8Array(), limits: LIMITS, signal: new AbortController().signal };
}

async function time(runtime: Runtime, req: RunRequest): Promise<number> {
  const t0 = performance.now();
  const r = await runtime.run(req);
  const ms = performance.now() - t0;
  if (r.outcome !== "completed") throw new Error(`bench run failed: ${JSON.stringify(r.error)}`);
  return ms;
}

export async function benchComponents(args: string[]): Promise<void> {
  const i = args.indexOf("--samples");
  const samples = i >= 0 ? Number(args[i + 1]) : 10;
  const example = async (p: string) => new Uint8Array(await readFile(join(REPO_ROOT, "examples", p)));
  const work = await mkdtemp(join(tmpdir(), "propeller-bench-components-"));
  try {
    const p1 = new WasiP1Runtime({ workDir: work });
    type Ep = RunRequest["entrypoint"];
    const cases: Array<{ name: string; core: Uint8Array; coreEp: Ep; comp: Uint8Array; compEp: Ep }> = [
      { name: "export add", core: await example("add/add.wasm"), coreEp: { kind: "export", name: "add", inputs: [1, 2] }, comp: await example("components/calc/calc.wasm"), compEp: { kind: "export", name: "add", args: "1, 2" } },
      { name: "command hello", core: await example("hello/hello.wasm"), coreEp: { kind: "wasi" }, comp: await example("components/hello-p2/hello.component.wasm"), compEp: { kind: "wasi" } },
    ];
    console.log(`component vs core module start cost, ${samples} samples each (p50 / p90 ms, runtime.run() wall time)`);
    for (const c of cases) {
      const core: number[] = [];
      const cold: number[] = [];
      const warm: number[] = [];
      const warmCache = new TranspileCache({ dir: join(work, `warm-${c.name.replace(/\W/g, "")}`) });
      const warmRuntime = new ComponentRuntime({ kind: "component", workDir: work, cache: warmCache });
      await time(warmRuntime, request(c.comp, c.compEp)); // fills the cache
      await time(p1, request(c.core, c.coreEp)); // warms the p1 path likewise
      for (let s = 0; s < samples; s++) {
        core.push(await time(p1, request(c.core, c.coreEp)));
        const coldRuntime = new ComponentRuntime({ kind: "component", workDir: work, cache: new TranspileCache({ dir: join(work, `cold-${s}-${c.name.replace(/\W/g, "")}`) }) });
        cold.push(await time(coldRuntime, request(c.comp, c.compEp)));
        warm.push(await time(warmRuntime, request(c.comp, c.compEp)));
      }
      const row = (label: string, v: number[]) => console.log(`  ${c.name.padEnd(14)} ${label.padEnd(28)} p50 ${fmt(percentile(v, 50)).padStart(7)}  p90 ${fmt(percentile(v, 90)).padStart(7)}`);
      row("core module (wasi-p1)", core);
      row("component cold (transpile)", cold);
      row("component warm (cached)", warm);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
