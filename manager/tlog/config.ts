/**
 * The transparency log's settings (docs/transparency.md), validated with the rest of the manager's
 * configuration (manager/config.ts).
 */
import { messageOf } from "../../lib/errors.js";
import { isKeyName, parseSignerKey, parseVerifierKey, SIG_COSIGNATURE_V1, SIG_ED25519, type NoteSigner, type NoteVerifier } from "../../protocol/tlog/index.js";

export interface LogConfigInput {
  /**
   * The log's signer key, `PRIVATE+KEY+<origin>+<id>+<base64>` (`propeller log keygen`); its name is
   * the checkpoint origin. Unset: a key is generated once into the database and shared by every
   * manager on it.
   */
  signerKey?: string;
  /** Origin of a generated key (default `propeller.local/log`); ignored when signerKey is set. */
  origin?: string;
  /** A checkpoint is issued when this many entries are not yet in one… (default 256) */
  checkpointEveryEntries?: number;
  /** …or when the oldest such entry has waited this long (default 5000 ms). */
  checkpointEveryMs?: number;
  /** The sequencer runs at least this often (default 200 ms), and right after each stored receipt. */
  sequenceEveryMs?: number;
  /** Entries appended per transaction at most (default 1000). */
  batchSize?: number;
  /** Checkpoint, tiles and proofs need no credential (default true: a transparency log is public). */
  publicRead?: boolean;
  /** Witnesses whose cosignatures the log accepts and serves: verifier keys (type 0x04). */
  witnesses?: string[];
}

export interface LogConfig {
  signer: NoteSigner | null;
  origin: string;
  checkpointEveryEntries: number;
  checkpointEveryMs: number;
  sequenceEveryMs: number;
  batchSize: number;
  publicRead: boolean;
  witnesses: NoteVerifier[];
}

export const LOG_DEFAULTS = {
  origin: "propeller.local/log",
  checkpointEveryEntries: 256,
  checkpointEveryMs: 5000,
  sequenceEveryMs: 200,
  batchSize: 1000,
} as const;

export function resolveLogConfig(input: LogConfigInput | undefined, problems: string[]): LogConfig {
  const log = input ?? {};
  let signer: NoteSigner | null = null;
  if (log.signerKey !== undefined) {
    try {
      signer = parseSignerKey(String(log.signerKey));
      if (signer.type !== SIG_ED25519) problems.push("log.signerKey: must be an Ed25519 (type 0x01) key, not a witness key");
    } catch {
      // Never echo a private key.
      problems.push("log.signerKey: must be PRIVATE+KEY+<origin>+<key id>+<base64> (`propeller log keygen`)");
    }
  }
  const origin = signer?.name ?? log.origin ?? LOG_DEFAULTS.origin;
  if (typeof origin !== "string" || !isKeyName(origin)) problems.push(`log.origin: must be a non-empty name without spaces or "+" (got ${JSON.stringify(origin)})`);
  const int = (name: keyof typeof LOG_DEFAULTS & keyof LogConfigInput, min: number, max: number): number => {
    const value = log[name] ?? LOG_DEFAULTS[name];
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) problems.push(`log.${name}: must be an integer ${min}..${max} (got ${JSON.stringify(value)})`);
    return value as number;
  };
  const checkpointEveryEntries = int("checkpointEveryEntries", 1, 1_000_000);
  const checkpointEveryMs = int("checkpointEveryMs", 10, 86_400_000);
  const sequenceEveryMs = int("sequenceEveryMs", 10, 60_000);
  const batchSize = int("batchSize", 1, 100_000);
  const publicRead = log.publicRead ?? true;
  if (typeof publicRead !== "boolean") problems.push("log.publicRead: must be true or false");
  const witnesses: NoteVerifier[] = [];
  if (log.witnesses !== undefined && (!Array.isArray(log.witnesses) || log.witnesses.length > 64)) problems.push("log.witnesses: must be a list of at most 64 verifier keys");
  else {
    (log.witnesses ?? []).forEach((w, i) => {
      try {
        const v = parseVerifierKey(String(w));
        if (v.type !== SIG_COSIGNATURE_V1) problems.push(`log.witnesses[${i}]: a witness key has signature type 0x04 (cosignature/v1)`);
        else witnesses.push(v);
      } catch (err) {
        problems.push(`log.witnesses[${i}]: ${messageOf(err)}`);
      }
    });
  }
  return { signer, origin: String(origin), checkpointEveryEntries, checkpointEveryMs, sequenceEveryMs, batchSize, publicRead: publicRead === true, witnesses };
}
