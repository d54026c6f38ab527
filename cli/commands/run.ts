import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { TEE_TYPES, type TeeType } from "../../protocol/index.js";
import { parse, parsePositiveInt } from "../args.js";
import { confidentialTaskBody, sealWorkload, verifyRunReceipt } from "../confidential.js";
import { UsageError } from "../errors.js";
import type { ManagerClient, TaskView } from "../manager-client.js";
import { describeRun, type Output } from "../output.js";
import { TASK_FLAGS, buildTaskBody } from "../task-spec.js";
import { adminConnection } from "./kbs.js";
import { clientFrom } from "./task.js";

/** Creates and starts a task, waits for its result and prints it; exit 0 only when it completed. */
export async function submitAndReport(client: ManagerClient, body: Record<string, unknown>, waitMs: number, io: Output, json = false): Promise<{ task: TaskView; code: number }> {
  const created = await client.createTask({ ...body, start: true });
  const task = await client.waitForFinish(created.id, waitMs, (t) => {
    if (!json) io.err(`task ${t.id}: ${t.state}${t.pendingReason ? ` (${t.pendingReason})` : ""}`);
  });
  const run = task.latestRun;
  if (json) io.out(JSON.stringify(task, null, 2));
  else {
    if (run?.result?.stdout) io.out(run.result.stdout);
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
    manager: { type: "string" },
    token: { type: "string" },
    json: { type: "boolean" },
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
  const body = await buildTaskBody(values.url ? undefined : wasm, values, values.url ? positionals : guestArgs);
  const waitMs = parsePositiveInt("--wait", values.wait, 120_000);
  const client = clientFrom(values);

  let kbsUrl: string | undefined;
  let workloadDigest = (body.artifact as { digest: string }).digest;
  if (values.confidential) {
    kbsUrl = values.kbs ?? process.env.PROPELLER_KBS_URL;
    if (!kbsUrl) throw new UsageError("--confidential needs the KBS that holds the key: --kbs URL (or PROPELLER_KBS_URL)");
    if (!values.tee || !(TEE_TYPES as readonly string[]).includes(values.tee)) throw new UsageError(`--confidential needs --tee, one of ${TEE_TYPES.join(", ")}`);
    const tee = values.tee as TeeType;
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

  const { task, code } = await submitAndReport(client, body, waitMs, io, values.json ?? false);
  if (!task.latestRun?.result) return code;
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
