/**
 * Debian's real Prometheus for tests: started with a generated scrape config against running
 * targets, queried through its HTTP API. Skipped with a message when it is not installed, except
 * under CI=true, where that is a failure (.ci/run installs it).
 */
import { describeWhen } from "./describe-when.js";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stopChildProcess } from "../lib/supervisor.js";
import { freePort, waitFor } from "./net.js";
import { messageOf } from "../lib/errors.js";

export interface ScrapeTarget {
  job: string;
  /** host:port, one per instance of the job (all scraped with the same path and credential). */
  addresses: readonly string[];
  metricsPath?: string;
  /** Sent as `authorization: Bearer …` (from a credentials file, as an operator would). */
  bearerToken?: string;
}

export interface PrometheusServer {
  url: string;
  /** An instant query (`/api/v1/query`): the result vector. */
  query(promql: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  /** The scrape targets' health as Prometheus sees it. */
  targets(): Promise<Array<{ job: string; health: string; lastError: string }>>;
  close(): Promise<void>;
}

export function prometheusAvailable(): boolean {
  const r = spawnSync("prometheus", ["--version"], { stdio: "ignore", timeout: 5000 });
  return r.error === undefined && r.status === 0;
}

export function describeWithPrometheus(name: string, fn: () => void): void {
  describeWhen(
    name,
    prometheusAvailable(),
    { test: "has prometheus installed", why: "prometheus not found; CI must install the Debian package prometheus", skip: "prometheus is not installed (apt-get install prometheus)" },
    fn,
  );
}

export async function startPrometheus(targets: readonly ScrapeTarget[], scrapeIntervalSeconds = 1): Promise<PrometheusServer> {
  const dir = await mkdtemp(join(tmpdir(), "propeller-prometheus-"));
  const jobs: string[] = [];
  for (const [i, t] of targets.entries()) {
    let auth = "";
    if (t.bearerToken) {
      const file = join(dir, `token-${i}`);
      await writeFile(file, t.bearerToken, { mode: 0o600 });
      auth = `\n    authorization:\n      type: Bearer\n      credentials_file: ${file}`;
    }
    jobs.push(`  - job_name: ${JSON.stringify(t.job)}\n    metrics_path: ${JSON.stringify(t.metricsPath ?? "/metrics")}${auth}\n    static_configs:\n      - targets: [${t.addresses.map((a) => JSON.stringify(a)).join(", ")}]`);
  }
  const config = `global:\n  scrape_interval: ${scrapeIntervalSeconds}s\n  scrape_timeout: ${scrapeIntervalSeconds}s\nscrape_configs:\n${jobs.join("\n")}\n`;
  await writeFile(join(dir, "prometheus.yml"), config);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let output = "";
  const proc: ChildProcess = spawn(
    "prometheus",
    [`--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const keep = (chunk: Buffer) => void (output = (output + chunk.toString("utf8")).slice(-8000));
  proc.stdout?.on("data", keep);
  proc.stderr?.on("data", keep);
  const close = async () => {
    await stopChildProcess(proc);
    await rm(dir, { recursive: true, force: true });
  };
  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(5000) });
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== "success") throw new Error(`prometheus ${path}: ${body.error ?? res.status}`);
    return body.data;
  };
  let exited = false;
  proc.once("exit", () => (exited = true));
  try {
    await waitFor(async () => {
      if (exited) throw new Error(`prometheus exited at start: ${output.slice(-1000)}`);
      return (await fetch(`${url}/-/ready`).catch(() => null))?.ok;
    }, 20_000, "prometheus ready");
  } catch (err) {
    await close();
    throw new Error(`${messageOf(err)} (prometheus output: ${output.slice(-1000)})`);
  }
  return {
    url,
    query: async (promql) => (await api<{ result: Array<{ metric: Record<string, string>; value: [number, string] }> }>(`/api/v1/query?query=${encodeURIComponent(promql)}`)).result,
    targets: async () =>
      (await api<{ activeTargets: Array<{ labels: { job: string }; health: string; lastError: string }> }>("/api/v1/targets")).activeTargets.map((t) => ({
        job: t.labels.job,
        health: t.health,
        lastError: t.lastError,
      })),
    close,
  };
}
