import { readFile, stat } from "node:fs/promises";

/** Receipts are a few KiB (an embedded EAR token included); anything far larger is not one. */
const MAX_RECEIPT_FILE_BYTES = 1024 * 1024;
import { isDigest, sha256Digest } from "../../protocol/index.js";
import { verifyReceipt, type ReceiptExpectations } from "../../protocol/receipt/index.js";
import { parse } from "../args.js";
import { UsageError } from "../errors.js";
import { loadJwks } from "../jwks-source.js";
import type { Output } from "../output.js";
import { isUrl, LogClient, loadVerifierKey, readSmall } from "../log-client.js";
import { resolveManagerToken } from "../manager-client.js";
import { parseProofBundle, verifyProofBundle, type ProofBundle } from "../../protocol/tlog/index.js";
import { witnessPolicy } from "./log.js";
import { messageOf } from "../../lib/errors.js";

/**
 * `propeller receipt verify receipt.jws --jwks <URL|file> [--expect-workload sha256:…]
 *   [--expect-output FILE] [--expect-task ID] [--expect-run ID] [--expect-nonce N] [--allow-unattested] [--json]`
 * Works offline with a JWKS file; prints each check; exits 1 on any failure.
 */
export async function receiptCommand(argv: string[], io: Output): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== "verify") throw new UsageError(`unknown receipt command "${sub ?? ""}": use verify`);
  const { values, positionals } = parse("receipt verify", rest, {
    jwks: { type: "string" },
    "expect-workload": { type: "string" },
    "expect-output": { type: "string" },
    "expect-task": { type: "string" },
    "expect-run": { type: "string" },
    "expect-nonce": { type: "string" },
    "allow-unattested": { type: "boolean" },
    log: { type: "string" },
    "log-key": { type: "string" },
    proof: { type: "string" },
    witness: { type: "string", multiple: true },
    quorum: { type: "string" },
    token: { type: "string" },
    json: { type: "boolean" },
  });
  const file = positionals[0];
  if (!file || positionals.length > 1) throw new UsageError("receipt verify takes one receipt file (a compact JWS; - for stdin)");
  if (file !== "-") {
    const size = await stat(file).then((s) => s.size, () => {
      throw new UsageError(`cannot read the receipt ${file}`);
    });
    if (size > MAX_RECEIPT_FILE_BYTES) throw new UsageError(`${file} is ${size} bytes; a receipt is at most ${MAX_RECEIPT_FILE_BYTES}`);
  }
  const jws = (file === "-" ? await readStdin() : await readFile(file, "utf8").catch(() => {
    throw new UsageError(`cannot read the receipt ${file}`);
  })).trim();

  const expect: ReceiptExpectations = {};
  if (values.jwks) expect.jwks = await loadJwks(values.jwks);
  if (values["allow-unattested"]) expect.allowUnattested = true;
  if (values["expect-workload"]) {
    if (!isDigest(values["expect-workload"])) throw new UsageError("--expect-workload takes sha256:<64 hex digits>");
    expect.workloadDigest = values["expect-workload"];
  }
  if (values["expect-output"]) {
    const bytes = await readFile(values["expect-output"]).catch(() => {
      throw new UsageError(`cannot read --expect-output file ${values["expect-output"]}`);
    });
    expect.stdoutDigest = sha256Digest(bytes);
  }
  if (values["expect-task"]) expect.taskId = values["expect-task"];
  if (values["expect-run"]) expect.runId = values["expect-run"];
  if (values["expect-nonce"]) expect.nonce = values["expect-nonce"];

  const result = await verifyReceipt(jws, expect);
  if (values.log) {
    const logChecks = await checkLogInclusion(jws, result.claims?.runId, {
      log: values.log,
      logKey: values["log-key"],
      proof: values.proof,
      witness: values.witness,
      quorum: values.quorum,
      token: values.token,
    });
    result.checks.push(...logChecks);
    if (logChecks.some((c) => !c.ok)) result.ok = false;
  } else if (values["log-key"] || values.proof) {
    throw new UsageError("--log-key and --proof go with --log <URL prefix|checkpoint file>");
  }
  if (values.json) {
    io.out(JSON.stringify(result, null, 2));
  } else {
    for (const check of result.checks) io.out(`${check.ok ? "✔" : "✘"} ${check.name.padEnd(20)} ${check.detail}`);
    if (result.claims) {
      const c = result.claims;
      io.out(`\ntask ${c.taskId} run ${c.runId} on ${c.propletId}: ${c.outcome}, exit code ${c.output.exitCode ?? "none"}; ${c.attested ? `attested (${c.tee})` : "unattested"}`);
      io.out(`workload ${c.workload.plaintext}${c.workload.ciphertext ? ` (ciphertext ${c.workload.ciphertext})` : ""}`);
    }
    io.out(result.ok ? "\nreceipt verified" : `\nreceipt NOT verified: ${result.checks.filter((c) => !c.ok).map((c) => c.name).join(", ")}`);
  }
  return result.ok ? 0 : 1;
}

/**
 * The receipt is in the transparency log: an inclusion proof (fetched from the log, or a saved
 * bundle) of exactly these bytes, against a checkpoint signed by the pinned log key.
 */
async function checkLogInclusion(
  jws: string,
  runId: string | undefined,
  options: { log: string; logKey: string | undefined; proof: string | undefined; witness: string[] | undefined; quorum: string | undefined; token: string | undefined },
): Promise<Array<{ name: string; ok: boolean; detail: string }>> {
  const logKey = await loadVerifierKey("--log-key", options.logKey);
  const witnesses = await witnessPolicy(options.witness, options.quorum);
  let bundle: ProofBundle;
  let checkpoint: string | undefined;
  try {
    if (isUrl(options.log)) {
      if (options.proof) throw new UsageError("--proof goes with a checkpoint file, not a log URL (the proof is fetched)");
      if (!runId) return [{ name: "log.inclusion", ok: false, detail: "the receipt names no run, so its log entry cannot be looked up" }];
      bundle = await new LogClient(options.log, resolveManagerToken(options.token)).inclusion(runId);
    } else {
      if (!options.proof) throw new UsageError("--log <checkpoint file> needs --proof <inclusion bundle.json> (saved from GET /log/proof/inclusion)");
      checkpoint = await readSmall("--log", options.log, 64 * 1024);
      bundle = parseProofBundle(JSON.parse(await readSmall("--proof", options.proof)));
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
    return [{ name: "log.inclusion", ok: false, detail: messageOf(err) }];
  }
  if (bundle.kind !== "inclusion") return [{ name: "log.inclusion", ok: false, detail: "the proof is a consistency proof, not an inclusion proof" }];
  // The proof must be of these very bytes, against the checkpoint given (or the one the log served).
  const verdict = verifyProofBundle({ ...bundle, entry: Buffer.from(jws, "utf8").toString("base64"), ...(checkpoint !== undefined ? { checkpoint } : {}) }, { logKey, witnesses });
  return verdict.checks.map((c) => ({ ...c, name: `log.${c.name}` }));
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin) {
    total += (chunk as Buffer).length;
    if (total > MAX_RECEIPT_FILE_BYTES) throw new UsageError(`the receipt on stdin is larger than ${MAX_RECEIPT_FILE_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}
