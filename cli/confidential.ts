import type { JSONWebKeySet } from "jose";
import { encryptWorkload } from "../protocol/workload-encryption.js";
import { KBS_RESOURCE_URI_PREFIX, sha256Digest, type TeeType } from "../protocol/index.js";
import { verifyReceipt, type ReceiptVerification } from "../protocol/receipt/index.js";
import { RemoteError, UsageError } from "./errors.js";
import { loadJwks } from "./jwks-source.js";
import type { ManagerClient } from "./manager-client.js";
import type { Task } from "../protocol/api/index.js";

export interface KbsAdmin {
  url: string;
  token: string | (() => Promise<string>);
}

export interface SealedWorkload {
  ciphertext: Uint8Array;
  plaintextDigest: string;
  ciphertextDigest: string;
  resource: string;
}

/**
 * Encrypts a Wasm module with a fresh age identity and stores the identity in the KBS under
 * `resource` with a policy releasing it only to affirming `tee` attestations.
 */
export async function sealWorkload(plaintext: Uint8Array, kbs: KbsAdmin, resource: string, tee: TeeType, options: { replace?: boolean } = {}): Promise<SealedWorkload> {
  const kbsModule = await import("../kbs/index.js");
  const path = kbsModule.adminResourcePath(resource);
  if (!options.replace) await refuseExistingResource(kbs, path);
  const enc = await encryptWorkload(plaintext);
  await kbsModule.putResource(kbs, path, Buffer.from(enc.identity));
  await kbsModule.setResourcePolicy(kbs, path, { description: `workload key, released to ${tee} TEEs attesting as affirming`, allowedTees: [tee], requiredStatus: "affirming" });
  return { ciphertext: enc.ciphertext, plaintextDigest: enc.plaintextDigest, ciphertextDigest: enc.ciphertextDigest, resource: `${KBS_RESOURCE_URI_PREFIX}${path}` };
}

/** The manager's REST body for a confidential task whose ciphertext travels inline. */
export function confidentialTaskBody(name: string, ciphertext: Uint8Array, spec: { kbsUrl: string; resource: string; plaintextDigest: string; tee: TeeType }, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    artifact: { digest: sha256Digest(ciphertext), inline: Buffer.from(ciphertext).toString("base64") },
    confidential: spec,
    ...extra,
  };
}

/**
 * Fetches a run's receipt from the manager and verifies it offline against the KBS's JWKS and what
 * the caller knows (task, run, workload digest, stdout bytes).
 */
export async function verifyRunReceipt(
  client: ManagerClient,
  task: Task,
  expect: { jwks?: JSONWebKeySet; kbsUrl?: string; workloadDigest: string; allowUnattested?: boolean },
): Promise<{ jws: string; verification: ReceiptVerification }> {
  const run = task.latestRun;
  if (!run) throw new RemoteError("no_run", `task ${task.id} has no run`, undefined);
  let jws: string;
  try {
    jws = await client.receipt(task.id, run.id);
  } catch (err) {
    if (err instanceof RemoteError && err.status === 404) throw new RemoteError("no_receipt", `the manager has no receipt for run ${run.id} (404)`, 404);
    throw err;
  }
  const jwks = expect.jwks ?? (expect.kbsUrl ? await loadJwks(`${expect.kbsUrl.replace(/\/+$/, "")}/.well-known/jwks.json`) : undefined);
  const stdout = run.result ? sha256Digest(Buffer.from(run.result.stdoutBase64, "base64")) : undefined;
  const verification = await verifyReceipt(jws, {
    ...(jwks ? { jwks } : {}),
    taskId: task.id,
    runId: run.id,
    workloadDigest: expect.workloadDigest,
    ...(stdout ? { stdoutDigest: stdout } : {}),
    ...(expect.allowUnattested ? { allowUnattested: true } : {}),
  });
  return { jws, verification };
}

/**
 * Storing a new key under a path that holds one would make every ciphertext sealed to the old key
 * undecryptable (and tasks that carry it un-rerunnable): refused unless the caller says replace.
 */
export async function refuseExistingResource(kbs: KbsAdmin, path: string): Promise<void> {
  const kbsModule = await import("../kbs/index.js");
  try {
    await kbsModule.getResourceMetadata(kbs, path);
  } catch (err) {
    if (err instanceof kbsModule.KbsAdminError && err.status === 404) return;
    throw err;
  }
  throw new UsageError(`the KBS already holds a key at ${path}; replacing it would make what was sealed to it undecryptable. Choose another --resource, or pass --force to replace it`);
}
