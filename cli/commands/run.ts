import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { isTeeType, TEE_TYPES, type TeeType } from "../../protocol/index.js";
import { parse, parsePositiveInt } from "../args.js";
import { confidentialTaskBody, sealWorkload, verifyRunReceipt } from "../confidential.js";
import { UsageError } from "../errors.js";
import { TERMINAL_STATES, type ManagerClient } from "../manager-client.js";
import type { Task } from "../../protocol/api/index.js";
import { describeRun, type Output } from "../output.js";
import { TASK_FLAGS, prepareTask } from "../task-spec.js";
import { untilSignal } from "../signals.js";
import { adminConnection } from "./kbs.js";
import { CLIENT_FLAGS, clientFrom } from "./task.js";
import { clientEnv } from "../client-env.js";
import { stackKbs } from "../state-dir.js";

/** Creates and starts a task, waits for its result and prints it; exit 0 only when it completed. */
export async function submitAndReport(client: ManagerClient, body: Record<string, unknown>, waitMs: number, io: Output, json = false): Promise<{ task: Task; code: number }> {
  const created = await client.createTask({ ...body, start: true });
  const task = await client.waitForFinish(created.id, waitMs, (t) => {
    if (!json) io.err(`task ${t.id}: ${t.state}${t.pendingReason ? ` (${t.pendingReason})` : ""}`);
  });
  const run = task.latestRun;
  if (json) io.out(JSON.stringify(task, null, 2));
  else {
    if (run?.result?.stdout) io.out(run.result.stdout);
    // A component export's result (WAVE text) is the run's answer: stdout, like a guest's output.
    if (run?.result?.returnWave) io.out(run.result.returnWave);
    // So is a core module export's return values (space-separated, as `function invoke` prints them).
    else if (run?.result?.returnValues?.length) io.out(run.result.returnValues.join(" "));
    if (run?.result?.stderr) io.err(run.result.stderr);
    io.err(describeRun(run));
  }
  const exitCode = run?.result?.exitCode;
  const code = task.state === "completed" ? (typeof exitCode === "number" && exitCode >= 0 && exitCode < 256 ? exitCode : 0) : 1;
  return { task, code };
}

const AGE_HEADER = "age-encryption.org/v1";

/**
 * `propeller run <file.wasm | file.wasm.age> [guest args...] [--confidential --kbs URL --tee T
 *   (--resource kbs:///… --plaintext-digest sha256:… for a .age file) (--admin-key F for a plain file)]`
 * Submits, waits, prints the output, then fetches the run's receipt and verifies it offline
 * (with the KBS's JWKS for confidential runs); exit non-zero when the run or the receipt fails.
 */
export async function runCommand(argv: string[], io: Output): Promise<number> {
  const { values, positionals } = parse("run", argv, {
    ...TASK_FLAGS,
    ...CLIENT_FLAGS,
    wait: { type: "string" },
    confidential: { type: "boolean" },
    kbs: { type: "string" },
    resource: { type: "string" },
    "plaintext-digest": { type: "string" },
    tee: { type: "string" },
    "admin-key": { type: "string" },
    "admin-token": { type: "string" },
    "receipt-out": { type: "string" },
  });
  const [wasm, ...guestArgs] = positionals;
  const remote = values.url !== undefined || values.oci !== undefined;
  // With --url/--oci every positional is a guest argument; a first one naming a .wasm file is
  // almost surely a mistake (pass such an argument with --arg).
  if (remote && wasm && /\.wasm(\.age)?$/.test(wasm)) {
    throw new UsageError(`give one artifact: a Wasm file (${wasm}) or ${values.oci !== undefined ? "--oci REF" : "--url URL"}, not both (a guest argument ending in .wasm goes with --arg)`);
  }
  if (values.cron !== undefined) throw new UsageError("run waits for one run; a --cron task runs on its schedule: create it with `propeller task create … --cron 'EXPR'`");
  if (values.confidential && (values.delivery || values.oci)) throw new UsageError("--confidential sends the ciphertext with the task: not with --delivery or --oci");
  const { body, upload } = await prepareTask(remote ? undefined : wasm, values, remote ? positionals : guestArgs);
  const waitMs = parsePositiveInt("--wait", values.wait, 120_000);
  const client = clientFrom(values);
  if (body.runtime === "wasi-http") {
    if (values.confidential) throw new UsageError("--confidential does not go with --runtime wasi-http");
    if (upload) await client.uploadArtifact(upload.digest, upload.bytes);
    return serveDaemon(client, body, waitMs, io, values.json ?? false);
  }

  let kbsUrl: string | undefined;
  // An OCI reference without --digest: the manager pins it; the task then names the layer's digest.
  let workloadDigest = (body.artifact as { digest?: string }).digest;
  if (values.confidential) {
    kbsUrl = values.kbs ?? clientEnv().kbsUrl ?? stackKbs(values["state-dir"])?.url;
    if (!kbsUrl) throw new UsageError("--confidential needs the KBS that holds the key: --kbs URL (or PROPELLER_KBS_URL, or the one `propeller up` runs)");
    if (!values.tee || !isTeeType(values.tee)) throw new UsageError(`--confidential needs --tee, one of ${TEE_TYPES.join(", ")}`);
    const tee: TeeType = values.tee;
    if (!wasm || values.url) throw new UsageError("--confidential takes a local file (the ciphertext travels with the task)");
    const bytes = await readFile(wasm);
    const name = (body.name as string) ?? wasm;
    if (bytes.subarray(0, AGE_HEADER.length).toString("latin1") === AGE_HEADER) {
      if (!values.resource || !values["plaintext-digest"]) {
        throw new UsageError("an encrypted (.age) workload needs --resource kbs:///… and --plaintext-digest sha256:… (as `propeller encrypt` printed them)");
      }
      Object.assign(body, confidentialTaskBody(name, bytes, { kbsUrl, resource: values.resource, plaintextDigest: values["plaintext-digest"], tee }));
      workloadDigest = values["plaintext-digest"];
    } else {
      // A plain module: encrypt it here, store its key in the KBS, and send only the ciphertext.
      const resource = values.resource ?? `propeller/workload/${(body.artifact as { digest: string }).digest.slice(7, 23)}-${randomBytes(6).toString("hex")}`;
      const sealed = await sealWorkload(bytes, await adminConnection({ kbs: kbsUrl, ...values }), resource, tee);
      io.err(`encrypted ${wasm} (${sealed.plaintextDigest}) → ${sealed.ciphertextDigest}; key stored as ${sealed.resource}`);
      Object.assign(body, confidentialTaskBody(name, sealed.ciphertext, { kbsUrl, resource: sealed.resource, plaintextDigest: sealed.plaintextDigest, tee }));
      workloadDigest = sealed.plaintextDigest;
    }
  }

  if (upload) await client.uploadArtifact(upload.digest, upload.bytes);
  const { task, code } = await submitAndReport(client, body, waitMs, io, values.json ?? false);
  if (!task.latestRun?.result) return code;
  workloadDigest ??= task.artifact.digest;
  const { jws, verification } = await verifyRunReceipt(client, task, { ...(kbsUrl ? { kbsUrl } : {}), workloadDigest, allowUnattested: !values.confidential });
  if (values["receipt-out"]) await writeFile(values["receipt-out"], jws + "\n");
  if (!values.json) {
    io.err(`receipt (${verification.attested ? `attested by ${verification.claims?.tee}` : "unattested"}):`);
    for (const check of verification.checks) io.err(`  ${check.ok ? "✔" : "✘"} ${check.name.padEnd(20)} ${check.detail}`);
  }
  if (!verification.ok) {
    io.err("the run's receipt did NOT verify");
    return code === 0 ? 1 : code;
  }
  return code;
}

/**
 * `run --runtime wasi-http`: a daemon does not finish. Start it, print its endpoint once the proplet
 * serves it, and keep it up until Ctrl-C (or SIGTERM), which stops the task; exit 0 when it ended
 * `stopped`, 1 when it failed (or never served within --wait).
 */
async function serveDaemon(client: ManagerClient, body: Record<string, unknown>, waitMs: number, io: Output, json: boolean): Promise<number> {
  const signal = untilSignal();
  let interrupted = false;
  void signal.signal.then(() => {
    interrupted = true;
  });
  try {
    const created = await client.createTask({ ...body, start: true });
    const deadline = Date.now() + waitMs;
    let announced = false;
    let lastState = "";
    let task = created;
    for (;;) {
      task = await client.getTask(created.id);
      const run = task.latestRun;
      if (!json && task.state !== lastState) io.err(`task ${task.id}: ${task.state}${task.pendingReason ? ` (${task.pendingReason})` : ""}`);
      lastState = task.state;
      if (run?.endpoint && !announced) {
        announced = true;
        if (json) io.out(JSON.stringify({ taskId: task.id, runId: run.id, endpoint: run.endpoint }));
        else {
          io.out(run.endpoint);
          io.err(`serving at ${run.endpoint}; Ctrl-C stops task ${task.id}`);
        }
      }
      if (run && TERMINAL_STATES.has(run.state) && TERMINAL_STATES.has(task.state)) break;
      if (interrupted) {
        interrupted = false;
        if (!json) io.err(`stopping task ${task.id}`);
        await client.stopTask(task.id);
        task = await client.waitForFinish(task.id, 30_000);
        break;
      }
      if (!announced && Date.now() > deadline) {
        await client.stopTask(task.id).catch(() => undefined);
        io.err(`task ${task.id} did not serve within ${waitMs} ms (state ${task.state}${task.pendingReason ? `: ${task.pendingReason}` : ""}); stopped it`);
        return 1;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    if (json) io.out(JSON.stringify(task, null, 2));
    else io.err(describeRun(task.latestRun));
    return task.latestRun?.state === "stopped" || task.latestRun?.state === "completed" ? 0 : 1;
  } finally {
    signal.dispose();
  }
}
