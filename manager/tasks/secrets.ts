/**
 * Task secrets at rest: a task's `secretEnv` values are sealed with AES-256-GCM before the task row
 * is written, under a key the manager gets from its configuration (a file in its state, never the
 * database), with the task id as associated data (a sealed blob copied to another task's row does
 * not open). Only the names stay in the clear (the API shows them). The values are opened only to
 * build a task.start (and to check a receipt's input digest), and exist nowhere else.
 *
 * Why here and not sealed to the proplet: the proplet is chosen when a run is placed, long after
 * the task was created (and again for every retry, cron tick and reschedule), and its keys live in
 * memory and change at every restart, so the manager must be able to produce the values at dispatch
 * time. The way to keep them even from the manager is a confidential task's KBS resource, released
 * only to an attested proplet.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import type { Database } from "../../db/index.js";
import { PropellerError } from "../../protocol/errors.js";
import * as taskStore from "../store/tasks.js";

/** What a task row holds instead of the values. */
export interface SealedSecretEnv {
  v: 1;
  /** Names only (sorted): the API shows them as `secretEnvNames`. */
  names: string[];
  /** Which key sealed it: the first 8 bytes of SHA-256 of the key, hex (not secret). */
  kid: string;
  /** base64: 12-byte nonce, 16-byte tag, ciphertext of the JSON object. */
  iv: string;
  tag: string;
  ct: string;
}

export class SecretKeyError extends PropellerError {
  constructor(message: string) {
    super("secret_env_unavailable", message);
  }
}

const AAD_PREFIX = "propeller secret-env v1 task ";

export interface SecretBox {
  /** The key's id (safe to log and show). */
  readonly kid: string;
  seal(taskId: string, env: Record<string, string>): SealedSecretEnv;
  open(taskId: string, sealed: SealedSecretEnv): Record<string, string>;
}

/** A box for a 32-byte key (a Buffer, or its base64 text). */
export function secretBox(key: Buffer | string): SecretBox {
  const bytes = typeof key === "string" ? Buffer.from(key.trim(), "base64") : key;
  if (bytes.length !== 32) throw new SecretKeyError(`the secrets key must be 32 bytes (base64 of 32 random bytes, e.g. \`openssl rand -base64 32\`), got ${bytes.length}`);
  const kid = createHash("sha256").update(bytes).digest("hex").slice(0, 16);
  return {
    kid,
    seal(taskId, env) {
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", bytes, iv);
      cipher.setAAD(Buffer.from(AAD_PREFIX + taskId));
      const ct = Buffer.concat([cipher.update(JSON.stringify(env), "utf8"), cipher.final()]);
      return { v: 1, names: Object.keys(env).sort(), kid, iv: iv.toString("base64"), tag: cipher.getAuthTag().toString("base64"), ct: ct.toString("base64") };
    },
    open(taskId, sealed) {
      if (sealed.kid !== kid) {
        throw new SecretKeyError(
          `the secret env of task ${taskId} was sealed with secrets key ${sealed.kid}, and this manager has key ${kid}: start the manager with the original key (PROPELLER_SECRETS_KEY_FILE, or \`propeller up\`'s state directory), or set the task's secretEnv again`,
        );
      }
      try {
        const decipher = createDecipheriv("aes-256-gcm", bytes, Buffer.from(sealed.iv, "base64"));
        decipher.setAAD(Buffer.from(AAD_PREFIX + taskId));
        decipher.setAuthTag(Buffer.from(sealed.tag, "base64"));
        const text = Buffer.concat([decipher.update(Buffer.from(sealed.ct, "base64")), decipher.final()]).toString("utf8");
        return JSON.parse(text) as Record<string, string>;
      } catch {
        throw new SecretKeyError(`the secret env of task ${taskId} does not open (altered, or moved from another task); set the task's secretEnv again`);
      }
    },
  };
}

/** The names of a spec's secret variables, sealed or (older rows) plain. */
export function secretEnvNames(spec: { secretEnv?: Record<string, string>; sealedSecretEnv?: SealedSecretEnv | null }): string[] {
  return [...new Set([...Object.keys(spec.secretEnv ?? {}), ...(spec.sealedSecretEnv?.names ?? [])])].sort();
}

interface SpecSecrets {
  secretEnv?: Record<string, string>;
  sealedSecretEnv?: SealedSecretEnv | null;
}

/** The spec as stored: the secret values sealed for `taskId`, no plain `secretEnv`. */
export function sealSpec<S extends SpecSecrets>(spec: S, taskId: string, box: SecretBox): S {
  const { secretEnv, ...rest } = spec;
  const plain = secretEnv ?? {};
  if (Object.keys(plain).length === 0) return { ...rest, sealedSecretEnv: spec.sealedSecretEnv ?? null } as S;
  return { ...rest, sealedSecretEnv: box.seal(taskId, plain) } as S;
}

/** The spec with its secret values in the clear (for a task.start or a receipt check only). */
export function openSpec<S extends SpecSecrets>(spec: S, taskId: string, box: SecretBox): S {
  const sealed = spec.sealedSecretEnv;
  if (!sealed) return spec;
  return { ...spec, secretEnv: { ...(spec.secretEnv ?? {}), ...box.open(taskId, sealed) }, sealedSecretEnv: null };
}

/**
 * Seals, in place, the secret values of rows written before secrets were sealed, so none stays in
 * the clear once a manager with a secrets key has started. A row that cannot be sealed (its sealed
 * part is under another key) is left as it is and reported. Returns what it sealed and skipped.
 */
export async function sealPlainSecretRows(db: Database, box: SecretBox): Promise<{ sealed: number; skipped: Array<{ id: string; reason: string }> }> {
  let sealed = 0;
  const skipped: Array<{ id: string; reason: string }> = [];
  for (;;) {
    const batch = (await taskStore.tasksWithPlainSecrets(db, 100 + skipped.length)).filter((r) => !skipped.some((s) => s.id === r.id));
    if (batch.length === 0) return { sealed, skipped };
    for (const { id, spec } of batch) {
      try {
        // Values already sealed on the row (a mixed row) are kept; the plain ones join them.
        await taskStore.replaceSpec(db, id, sealSpec(openSpec(spec, id, box), id, box));
        sealed++;
      } catch (err) {
        skipped.push({ id, reason: err instanceof Error ? err.message : String(err) });
      }
    }
  }
}
