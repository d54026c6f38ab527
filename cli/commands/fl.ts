/**
 * `propeller fl create|start|stop|status|wait|model|list|demo`: federated learning experiments
 * (docs/fl.md). `create` reads an experiment spec (the fields of POST /fl/experiments; "wasm":
 * "file.wasm" relative to the spec instead of "workload", and "model": {"shape": […]} without
 * weights for zeros).
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { parse, parsePositiveInt } from "../args.js";
import { RemoteError, UsageError } from "../errors.js";
import { inlineArtifact, parseJsonWithPosition } from "../flow-spec.js";
import type { FlExperiment, FlRound } from "../../protocol/api/index.js";
import type { Output } from "../output.js";
import { CLIENT_FLAGS, clientFrom } from "./task.js";
import { messageOf } from "../../lib/errors.js";

const MAX_SPEC_BYTES = 8 * 1024 * 1024;
const DEFAULT_WAIT_MS = 600_000;

export function experimentLine(e: FlExperiment): string {
  const reason = e.reason ? ` (${e.reason})` : "";
  return `${e.id}  ${e.state.padEnd(9)}  ${e.name}: round ${e.currentRound}/${e.rounds}, k=${e.k} of ${e.participants.length || "?"}, model v${e.latestModel.version} ${e.latestModel.digest.slice(0, 19)}…${reason}`;
}

export function roundLines(r: FlRound): string[] {
  const t = r.timings;
  const head = `  round ${String(r.round).padEnd(3)} ${r.state.padEnd(9)} ${r.accepted}/${r.updates.length} accepted${r.model ? `  model v${r.model.version} ${r.model.digest.slice(0, 19)}…` : ""}${t.trainMs !== null ? `  train ${t.trainMs} ms` : ""}${r.reason ? `  (${r.reason})` : ""}`;
  return [head, ...r.updates.filter((u) => u.state !== "accepted").map((u) => `    ${u.propletId}: ${u.state}${u.reason ? ` (${u.reason})` : ""}`)];
}

function show(io: Output, json: boolean | undefined, e: FlExperiment, verb?: string): void {
  if (json) io.out(JSON.stringify(e, null, 2));
  else io.out([`${verb ? `${verb} ` : ""}${experimentLine(e)}`, ...(e.roundList ?? []).flatMap(roundLines)].join("\n"));
}

async function byId<T>(id: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof RemoteError && (err.status === 404 || err.status === 400) && /not_found|must match/.test(`${err.code} ${err.message}`)) {
      throw new UsageError(`no experiment "${id}" (${err.message}); \`propeller fl list\` shows the ids`);
    }
    throw err;
  }
}

/** Reads an experiment spec file (or stdin with "-") into a POST /fl/experiments body. */
export async function loadExperimentSpec(path: string): Promise<Record<string, unknown>> {
  let bytes: Buffer;
  try {
    bytes = path === "-" ? await readStdin() : await readFile(path);
  } catch (err) {
    throw new UsageError(`cannot read the experiment spec ${path}: ${(err as NodeJS.ErrnoException).code ?? messageOf(err)}`);
  }
  if (bytes.length > MAX_SPEC_BYTES) throw new UsageError(`${path} is ${bytes.length} bytes; an experiment spec is at most ${MAX_SPEC_BYTES}`);
  const spec = parseJsonWithPosition(bytes.toString("utf8"), path);
  if (typeof spec !== "object" || spec === null || Array.isArray(spec)) throw new UsageError(`${path}: expected a JSON object (the fields of POST /fl/experiments)`);
  const body = { ...(spec as Record<string, unknown>) };
  if ("wasm" in body) {
    if (typeof body.wasm !== "string") throw new UsageError(`${path}: "wasm" must be a file path`);
    if ("workload" in body) throw new UsageError(`${path}: give "wasm" or "workload", not both`);
    body.workload = await inlineArtifact(resolve(path === "-" ? process.cwd() : dirname(resolve(path)), body.wasm), path);
    delete body.wasm;
  }
  const model = body.model as { shape?: unknown; weights?: unknown } | undefined;
  if (model && Array.isArray(model.shape) && model.weights === undefined) {
    const size = model.shape.reduce((a: number, d: unknown) => a * (typeof d === "number" ? d : NaN), 1);
    if (!Number.isSafeInteger(size) || size < 1) throw new UsageError(`${path}: model.shape must be positive integers`);
    body.model = { ...model, weights: new Array<number>(size).fill(0) };
  }
  return body;
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function onlyId(sub: string, positionals: string[]): string {
  const id = positionals[0];
  if (!id || positionals.length > 1) throw new UsageError(`fl ${sub} takes exactly one experiment id`);
  return id;
}

export async function flCommand(argv: string[], io: Output): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case "create": {
      const { values, positionals } = parse("fl create", rest, { ...CLIENT_FLAGS, start: { type: "boolean" } });
      if (positionals.length !== 1) throw new UsageError("fl create takes one spec file (or - for stdin)");
      const body = await loadExperimentSpec(positionals[0]!);
      if (values.start) body.start = true;
      show(io, values.json, await clientFrom(values).createExperiment(body), "created");
      return 0;
    }
    case "start":
    case "stop":
    case "status": {
      const { values, positionals } = parse(`fl ${sub}`, rest, CLIENT_FLAGS);
      const id = onlyId(sub, positionals);
      const client = clientFrom(values);
      const e = await byId(id, () => (sub === "start" ? client.startExperiment(id) : sub === "stop" ? client.stopExperiment(id) : client.getExperiment(id)));
      show(io, values.json, e, sub === "start" ? "started" : sub === "stop" ? "stopped" : undefined);
      return 0;
    }
    case "wait": {
      const { values, positionals } = parse("fl wait", rest, { ...CLIENT_FLAGS, timeout: { type: "string" } });
      const id = onlyId(sub, positionals);
      const timeoutMs = parsePositiveInt("--timeout", values.timeout, DEFAULT_WAIT_MS);
      const client = clientFrom(values);
      let lastRound = -1;
      const first = await byId(id, () => client.getExperiment(id));
      if (first.state === "created") throw new RemoteError("not_started", `experiment ${id} is not started; run \`propeller fl start ${id}\` first`, undefined);
      const e = await client.waitForExperiment(id, timeoutMs, (x) => {
        if (!values.json && x.currentRound !== lastRound) {
          lastRound = x.currentRound;
          io.err(`round ${x.currentRound}/${x.rounds}: model v${x.latestModel.version}`);
        }
      });
      show(io, values.json, await client.getExperiment(id));
      return e.state === "completed" ? 0 : 1;
    }
    case "model": {
      const { values, positionals } = parse("fl model", rest, { ...CLIENT_FLAGS, version: { type: "string" } });
      const id = onlyId(sub, positionals);
      const client = clientFrom(values);
      const version = values.version !== undefined ? Number(values.version) : (await byId(id, () => client.getExperiment(id))).latestModel.version;
      if (!Number.isInteger(version) || version < 0) throw new UsageError("--version must be a non-negative integer");
      const m = await byId(id, () => client.getModel(id, version));
      if (values.json) io.out(JSON.stringify(m, null, 2));
      else {
        io.out(`model v${m.version} of ${m.experimentId}${m.round !== null ? ` (round ${m.round})` : " (initial)"}: ${m.digest}, shape [${m.shape.join(",")}], ${m.samples} samples`);
        for (const u of m.updates) io.out(`  ${u.propletId}: ${u.digest} (${u.samples === null ? "samples masked" : `${u.samples} samples`})`);
        io.out(`weights: ${JSON.stringify(m.weights)}`);
      }
      return 0;
    }
    case "list": {
      const { values } = parse("fl list", rest, { ...CLIENT_FLAGS, state: { type: "string" }, limit: { type: "string" }, cursor: { type: "string" } }, false);
      const page = await clientFrom(values).listExperiments({
        ...(values.state ? { state: values.state } : {}),
        ...(values.limit ? { limit: parsePositiveInt("--limit", values.limit, 50) } : {}),
        ...(values.cursor ? { cursor: values.cursor } : {}),
      });
      if (values.json) io.out(JSON.stringify(page, null, 2));
      else {
        io.out(page.items.map(experimentLine).join("\n") || "no experiments");
        if (page.nextCursor) io.out(`more: --cursor ${page.nextCursor}`);
      }
      return 0;
    }
    case "demo": {
      const { flDemo } = await import("./fl-demo.js");
      return flDemo(rest, io);
    }
    default:
      throw new UsageError(`unknown fl command "${sub ?? ""}": use create, start, stop, status, wait, model, list or demo`);
  }
}
