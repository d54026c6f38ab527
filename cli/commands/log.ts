/**
 * `propeller log …`: clients of a transparency log (docs/transparency.md).
 *   verify-proof <proof.json>   one proof bundle, offline; exit 0 when it holds, 1 when not
 *   monitor                     follow the log: each new checkpoint must extend the last one seen;
 *                               every entry is re-hashed; lists receipts of a workload or proplet
 *   witness                     cosign the log's checkpoint after checking it extends the last one
 *   keygen                      a log or witness key pair
 * Misbehaviour (fork, rollback, rewritten entries) is printed as JSON evidence, exit code 1.
 */
import { rename, writeFile } from "node:fs/promises";
import {
  addCosignature,
  appendLeaf,
  emptyFrontier,
  frontierRoot,
  generateNoteKey,
  isKeyName,
  isValidFrontier,
  leafHash,
  openCheckpoint,
  parseProofBundle,
  parseSignerKey,
  SIG_COSIGNATURE_V1,
  verifyProofBundle,
  type Frontier,
  type NoteVerifier,
  type OpenedCheckpoint,
  type WitnessPolicy,
} from "../../protocol/tlog/index.js";
import { parse, parsePositiveInt } from "../args.js";
import { UsageError } from "../errors.js";
import { LogClient, loadVerifierKey, readSmall } from "../log-client.js";
import { resolveManagerToken } from "../manager-client.js";
import type { Output } from "../output.js";
import { messageOf } from "../../lib/errors.js";

export async function logCommand(argv: string[], io: Output): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case "verify-proof":
      return verifyProofCommand(rest, io);
    case "monitor":
      return monitorCommand(rest, io);
    case "witness":
      return witnessCommand(rest, io);
    case "keygen":
      return keygenCommand(rest, io);
    default:
      throw new UsageError(`unknown log command "${sub ?? ""}": use verify-proof, monitor, witness or keygen`);
  }
}

/** --witness VKEY… and --quorum N into a policy (quorum defaults to every witness named). */
export async function witnessPolicy(witnesses: string[] | undefined, quorum: string | undefined): Promise<WitnessPolicy> {
  const keys: NoteVerifier[] = [];
  for (const w of witnesses ?? []) {
    const key = await loadVerifierKey("--witness", w);
    if (key.type !== SIG_COSIGNATURE_V1) throw new UsageError("--witness takes a witness verifier key (signature type 0x04)");
    keys.push(key);
  }
  const q = quorum === undefined ? keys.length : Number(quorum);
  if (!Number.isInteger(q) || q < 0 || q > keys.length) throw new UsageError(`--quorum must be 0..${keys.length} (the number of --witness keys)`);
  return { witnesses: keys, quorum: q };
}

const WITNESS_FLAGS = { witness: { type: "string", multiple: true }, quorum: { type: "string" } } as const;

async function verifyProofCommand(argv: string[], io: Output): Promise<number> {
  const { values, positionals } = parse("log verify-proof", argv, { "log-key": { type: "string" }, ...WITNESS_FLAGS, json: { type: "boolean" } });
  if (positionals.length !== 1) throw new UsageError("log verify-proof takes one proof bundle file (JSON)");
  let json: unknown;
  try {
    json = JSON.parse(await readSmall("log verify-proof", positionals[0]!));
  } catch (err) {
    if (err instanceof UsageError) throw err;
    io.err(`propeller: ${positionals[0]} is not JSON: ${messageOf(err)}`);
    return 1;
  }
  let bundle;
  try {
    bundle = parseProofBundle(json);
  } catch (err) {
    io.err(`propeller: not a proof bundle: ${messageOf(err)}`);
    return 1;
  }
  const logKey = values["log-key"] ? await loadVerifierKey("--log-key", values["log-key"]) : undefined;
  const verdict = verifyProofBundle(bundle, { ...(logKey ? { logKey } : {}), witnesses: await witnessPolicy(values.witness, values.quorum) });
  if (values.json) io.out(JSON.stringify({ kind: bundle.kind, ...verdict }, null, 2));
  else {
    for (const c of verdict.checks) io.out(`${c.ok ? "✔" : "✘"} ${c.name.padEnd(18)} ${c.detail}`);
    io.out(verdict.ok ? `\n${bundle.kind} proof holds` : `\n${bundle.kind} proof does NOT hold: ${verdict.checks.filter((c) => !c.ok).map((c) => c.detail).join("; ")}`);
  }
  return verdict.ok ? 0 : 1;
}

/** Evidence that the log misbehaved: both signed checkpoints, so anyone can check the claim. */
export interface Evidence {
  evidence: "fork" | "rollback" | "inconsistent" | "entries-mismatch" | "bad-checkpoint";
  detail: string;
  /** The checkpoint seen before (as signed) and the one now served. */
  previous?: string;
  current?: string;
  proof?: unknown;
}

class Misbehaviour extends Error {
  constructor(readonly report: Evidence) {
    super(report.detail);
  }
}

/**
 * Checks that the checkpoint now served extends the one seen before: larger or equal size, same
 * root at equal size, and a consistency proof from the old tree to the new.
 */
async function checkAdvance(client: LogClient, previous: { note: string; opened: OpenedCheckpoint } | null, note: string, key: NoteVerifier, policy: WitnessPolicy): Promise<OpenedCheckpoint> {
  let opened: OpenedCheckpoint;
  try {
    opened = openCheckpoint(note, key, policy);
  } catch (err) {
    throw new Misbehaviour({ evidence: "bad-checkpoint", detail: `the checkpoint served does not verify: ${messageOf(err)}`, current: note });
  }
  if (!previous) return opened;
  const old = previous.opened.checkpoint;
  const cur = opened.checkpoint;
  if (cur.size < old.size) {
    throw new Misbehaviour({ evidence: "rollback", detail: `the log now shows size ${cur.size}, smaller than the ${old.size} it signed before`, previous: previous.note, current: note });
  }
  if (cur.size === old.size) {
    if (!cur.root.equals(old.root)) throw new Misbehaviour({ evidence: "fork", detail: `two signed checkpoints of size ${cur.size} with different roots: the log forked`, previous: previous.note, current: note });
    return opened;
  }
  const bundle = await client.consistency(old.size, cur.size);
  const proofBundle = { ...bundle, ...(bundle.kind === "consistency" ? { root1: old.root.toString("base64"), root2: cur.root.toString("base64") } : {}) };
  const verdict = verifyProofBundle(proofBundle);
  if (bundle.kind !== "consistency" || !verdict.ok) {
    throw new Misbehaviour({
      evidence: "inconsistent",
      detail: `the checkpoint of size ${cur.size} does not extend the one of size ${old.size}: ${verdict.checks.filter((c) => !c.ok).map((c) => c.detail).join("; ") || "no consistency proof"}`,
      previous: previous.note,
      current: note,
      proof: bundle,
    });
  }
  return opened;
}

interface MonitorState {
  version: 1;
  origin: string;
  checkpoint: string;
  frontier: { size: number; hashes: string[] };
}

async function loadState(file: string): Promise<MonitorState | null> {
  let text: string;
  try {
    text = await readSmall("--state", file, 1024 * 1024);
  } catch {
    return null;
  }
  const s = JSON.parse(text) as MonitorState;
  if (s?.version !== 1 || typeof s.checkpoint !== "string" || typeof s.origin !== "string") throw new UsageError(`--state ${file} is not a propeller log state file`);
  return s;
}

async function saveState(file: string, state: MonitorState): Promise<void> {
  // Written aside and renamed: a crash never leaves a half-written state.
  await writeFile(`${file}.tmp`, JSON.stringify(state, null, 2));
  await rename(`${file}.tmp`, file);
}

function frontierOf(s: MonitorState): Frontier {
  const f = { size: s.frontier.size, hashes: s.frontier.hashes.map((h) => Buffer.from(h, "base64")) };
  if (!isValidFrontier(f)) throw new UsageError("the state file's frontier is malformed");
  return f;
}

/** The receipt claims of an entry (a compact JWS), or null when it is not one. */
function receiptClaims(entry: Buffer): { runId?: string; taskId?: string; propletId?: string; outcome?: string; finishedAt?: string; workload?: { plaintext?: string; ciphertext?: string | null } } | null {
  const parts = entry.toString("utf8").split(".");
  if (parts.length !== 3) return null;
  try {
    return JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8")) as ReturnType<typeof receiptClaims>;
  } catch {
    return null;
  }
}

async function monitorCommand(argv: string[], io: Output): Promise<number> {
  const { values } = parse(
    "log monitor",
    argv,
    {
      log: { type: "string" },
      "log-key": { type: "string" },
      state: { type: "string" },
      workload: { type: "string" },
      proplet: { type: "string" },
      full: { type: "boolean" },
      watch: { type: "string" },
      token: { type: "string" },
      ...WITNESS_FLAGS,
      json: { type: "boolean" },
    },
    false,
  );
  if (!values.log || !values.state) throw new UsageError("log monitor needs --log <URL prefix> --log-key <key> --state <file>");
  if (values.workload && !/^sha256:[0-9a-f]{64}$/.test(values.workload)) throw new UsageError("--workload takes sha256:<64 hex digits>");
  const key = await loadVerifierKey("--log-key", values["log-key"]);
  const policy = await witnessPolicy(values.witness, values.quorum);
  const client = new LogClient(values.log, resolveManagerToken(values.token));
  const everyMs = values.watch ? parsePositiveInt("--watch", values.watch, 10_000) : 0;

  for (;;) {
    const code = await monitorOnce(client, key, policy, values.state, { workload: values.workload, proplet: values.proplet, full: values.full === true, json: values.json === true }, io);
    if (code !== 0 || everyMs === 0) return code;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

async function monitorOnce(
  client: LogClient,
  key: NoteVerifier,
  policy: WitnessPolicy,
  stateFile: string,
  options: { workload?: string | undefined; proplet?: string | undefined; full: boolean; json: boolean },
  io: Output,
): Promise<number> {
  const state = await loadState(stateFile);
  if (state && state.origin !== key.name) throw new UsageError(`--state ${stateFile} follows the log ${state.origin}, not ${key.name}`);
  const previous = state ? { note: state.checkpoint, opened: openCheckpoint(state.checkpoint, key) } : null;
  const note = await client.checkpoint();
  try {
    const opened = await checkAdvance(client, previous, note, key, policy);
    const cp = opened.checkpoint;
    // Re-hash every entry from the start on the first run or with --full (a rewritten old entry
    // shows), else only the new ones onto the saved right edge.
    const full = options.full || !state;
    let frontier = full ? emptyFrontier() : frontierOf(state!);
    const from = frontier.size;
    const matches: string[] = [];
    for (let start = from; start < cp.size; start += 256 * 16) {
      const end = Math.min(cp.size, start + 256 * 16);
      const entries = await client.entries(start, end);
      entries.forEach((entry, i) => {
        frontier = appendLeaf(frontier, leafHash(entry));
        if (previous && frontier.size === previous.opened.checkpoint.size && !frontierRoot(frontier).equals(previous.opened.checkpoint.root)) {
          throw new Misbehaviour({ evidence: "entries-mismatch", detail: `entries 0..${frontier.size - 1} as served now do not hash to the root of the checkpoint seen before: an entry was rewritten`, previous: previous.note, current: note });
        }
        const claims = options.workload || options.proplet ? receiptClaims(entry) : null;
        if (claims && (!options.workload || claims.workload?.plaintext === options.workload || claims.workload?.ciphertext === options.workload) && (!options.proplet || claims.propletId === options.proplet)) {
          matches.push(
            options.json
              ? JSON.stringify({ index: start + i, runId: claims.runId, taskId: claims.taskId, propletId: claims.propletId, outcome: claims.outcome, finishedAt: claims.finishedAt, workload: claims.workload?.plaintext })
              : `entry ${start + i}: run ${claims.runId} of task ${claims.taskId} on ${claims.propletId}: ${claims.outcome} at ${claims.finishedAt} (workload ${claims.workload?.plaintext})`,
          );
        }
      });
    }
    if (!frontierRoot(frontier).equals(cp.root)) {
      throw new Misbehaviour({ evidence: "entries-mismatch", detail: `the ${cp.size} entries served do not hash to the checkpoint's root: an entry was rewritten, added or dropped`, ...(previous ? { previous: previous.note } : {}), current: note });
    }
    for (const m of matches) io.out(m);
    await saveState(stateFile, { version: 1, origin: key.name, checkpoint: note, frontier: { size: frontier.size, hashes: frontier.hashes.map((h) => h.toString("base64")) } });
    const summary = `log ${key.name}: size ${cp.size}${previous ? ` (was ${previous.opened.checkpoint.size})` : ""}, consistent; ${cp.size - from} entries checked${opened.cosignedBy.length ? `; cosigned by ${opened.cosignedBy.map((c) => c.name).join(", ")}` : ""}`;
    if (options.json) io.out(JSON.stringify({ ok: true, size: cp.size, previousSize: previous?.opened.checkpoint.size ?? null, checked: cp.size - from, matches: matches.length }));
    else io.err(summary);
    return 0;
  } catch (err) {
    if (!(err instanceof Misbehaviour)) throw err;
    // The state is not advanced: the evidence stays reproducible from it.
    io.out(JSON.stringify(err.report, null, 2));
    io.err(`propeller: LOG MISBEHAVIOUR (${err.report.evidence}): ${err.report.detail}`);
    return 1;
  }
}

async function witnessCommand(argv: string[], io: Output): Promise<number> {
  const { values } = parse("log witness", argv, { log: { type: "string" }, "log-key": { type: "string" }, key: { type: "string" }, state: { type: "string" }, token: { type: "string" }, "no-submit": { type: "boolean" } }, false);
  if (!values.log || !values.key || !values.state) throw new UsageError("log witness needs --log <URL prefix> --log-key <key> --key <witness signer key file> --state <file>");
  const logKey = await loadVerifierKey("--log-key", values["log-key"]);
  let signer;
  try {
    signer = parseSignerKey((await readSmall("--key", values.key, 4096)).trim());
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`--key: ${messageOf(err)}`);
  }
  if (signer.type !== SIG_COSIGNATURE_V1) throw new UsageError("--key must be a witness key (type 0x04): `propeller log keygen --witness`");
  const client = new LogClient(values.log, resolveManagerToken(values.token));
  const state = await loadState(values.state);
  const previous = state ? { note: state.checkpoint, opened: openCheckpoint(state.checkpoint, logKey) } : null;
  const note = await client.checkpoint();
  let opened: OpenedCheckpoint;
  try {
    opened = await checkAdvance(client, previous, note, logKey, { witnesses: [], quorum: 0 });
  } catch (err) {
    if (!(err instanceof Misbehaviour)) throw err;
    io.out(JSON.stringify(err.report, null, 2));
    io.err(`propeller: not cosigning: LOG MISBEHAVIOUR (${err.report.evidence}): ${err.report.detail}`);
    return 1;
  }
  const cosigned = addCosignature(note, signer);
  if (!values["no-submit"]) {
    const accepted = await client.postCosignature(cosigned);
    io.err(`cosigned size ${opened.checkpoint.size}; the log accepted ${accepted.join(", ") || "nothing"}`);
  }
  await saveState(values.state, { version: 1, origin: logKey.name, checkpoint: note, frontier: { size: 0, hashes: [] } });
  io.out(cosigned);
  return 0;
}

async function keygenCommand(argv: string[], io: Output): Promise<number> {
  const { values } = parse("log keygen", argv, { name: { type: "string" }, witness: { type: "boolean" }, json: { type: "boolean" } }, false);
  if (!values.name || !isKeyName(values.name)) throw new UsageError("log keygen needs --name <origin or witness name> (no spaces, no \"+\")");
  const keys = generateNoteKey(values.name, values.witness ? SIG_COSIGNATURE_V1 : 1);
  if (values.json) io.out(JSON.stringify(keys));
  else io.out(`${keys.signerKey}\n${keys.verifierKey}`);
  return 0;
}
