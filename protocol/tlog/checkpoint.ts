/**
 * C2SP tlog-checkpoint: a signed note whose text is
 *   <origin>\n<tree size, decimal>\n<base64 root hash>\n[extension lines]
 * signed by the log's Ed25519 key (key name = origin), optionally cosigned by witnesses.
 */
import { PropellerError } from "../errors.js";
import { HASH_SIZE } from "./merkle.js";
import { cosignatureTimestamp, openNote, parseNote, signNote, signatureLine, SIG_COSIGNATURE_V1, type NoteSigner, type NoteVerifier } from "./note.js";

export class CheckpointError extends PropellerError {
  constructor(message: string, details?: Record<string, unknown>) {
    super("checkpoint_invalid", message, details);
  }
}

export interface Checkpoint {
  origin: string;
  size: number;
  root: Buffer;
  extensions: string[];
}

export function formatCheckpoint(cp: Pick<Checkpoint, "origin" | "size" | "root"> & { extensions?: string[] }): string {
  return [cp.origin, String(cp.size), cp.root.toString("base64"), ...(cp.extensions ?? [])].join("\n") + "\n";
}

/** Parses a checkpoint's note text (the part before the blank line). */
export function parseCheckpointText(text: string): Checkpoint {
  if (!text.endsWith("\n")) throw new CheckpointError("checkpoint text must end in a newline");
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3) throw new CheckpointError(`a checkpoint has at least 3 lines (origin, size, root); this has ${lines.length}`);
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  if (origin === "") throw new CheckpointError("checkpoint origin is empty");
  if (!/^(0|[1-9][0-9]{0,15})$/.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) throw new CheckpointError(`checkpoint size ${JSON.stringify(sizeText.slice(0, 40))} is not a decimal without leading zeroes`);
  if (!/^[A-Za-z0-9+/]{43}=$/.test(rootText)) throw new CheckpointError("checkpoint root is not a base64 SHA-256 hash");
  const root = Buffer.from(rootText, "base64");
  if (root.length !== HASH_SIZE) throw new CheckpointError("checkpoint root is not 32 bytes");
  if (extensions.some((l) => l === "")) throw new CheckpointError("checkpoint extension lines must not be empty");
  return { origin, size: Number(sizeText), root, extensions };
}

export function signCheckpoint(cp: Pick<Checkpoint, "origin" | "size" | "root">, signer: NoteSigner): string {
  return signNote(formatCheckpoint(cp), [signer]);
}

/** What a client demands of a checkpoint beyond the log's own signature. */
export interface WitnessPolicy {
  /** Known cosigners (type 0x04 verifiers). */
  witnesses: readonly NoteVerifier[];
  /** How many distinct known witnesses must have cosigned (0: cosignatures are checked when present, never required). */
  quorum: number;
}

export interface OpenedCheckpoint {
  checkpoint: Checkpoint;
  /** The note text exactly as signed. */
  text: string;
  cosignedBy: Array<{ name: string; timestamp: number }>;
}

/**
 * Verifies a signed checkpoint: the log's key must have signed it (a bad signature from any known
 * key rejects it), its origin must be the log's key name, and the witness quorum must be met.
 */
export function openCheckpoint(note: string | Uint8Array, logKey: NoteVerifier, policy: WitnessPolicy = { witnesses: [], quorum: 0 }): OpenedCheckpoint {
  const { note: parsed, verifiedBy } = openNote(note, [logKey, ...policy.witnesses]);
  if (!verifiedBy.includes(logKey)) throw new CheckpointError(`the checkpoint is not signed by the log key ${logKey.name}`);
  const checkpoint = parseCheckpointText(parsed.text);
  if (checkpoint.origin !== logKey.name) throw new CheckpointError(`checkpoint origin ${JSON.stringify(checkpoint.origin)} is not the log ${JSON.stringify(logKey.name)}`);
  const cosignedBy = verifiedBy
    .filter((v) => v !== logKey && v.type === SIG_COSIGNATURE_V1)
    .map((v) => {
      const sig = parsed.signatures.find((s) => s.name === v.name && s.keyId === v.keyId)!;
      return { name: v.name, timestamp: cosignatureTimestamp(sig.signature) ?? 0 };
    });
  if (cosignedBy.length < policy.quorum) {
    throw new CheckpointError(`the checkpoint has ${cosignedBy.length} valid witness cosignature(s); policy requires ${policy.quorum} of ${policy.witnesses.map((w) => w.name).join(", ")}`);
  }
  return { checkpoint, text: parsed.text, cosignedBy };
}

/** Appends one cosignature line to a signed checkpoint (the witness side). */
export function addCosignature(note: string, cosigner: NoteSigner): string {
  if (cosigner.type !== SIG_COSIGNATURE_V1) throw new CheckpointError("a witness cosigns with a type 0x04 (cosignature/v1) key");
  const parsed = parseNote(note);
  const kept = note.endsWith("\n") ? note : `${note}\n`;
  // Replace an older cosignature of the same key rather than piling them up.
  const lines = kept.slice(parsed.text.length + 1).split("\n").filter((l) => l !== "");
  const mine = new RegExp(`^\u2014 ${cosigner.name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} `, "u");
  const others = lines.filter((l) => {
    if (!mine.test(l)) return true;
    const raw = Buffer.from(l.split(" ")[2] ?? "", "base64");
    return raw.length < 4 || raw.readUInt32BE(0) !== cosigner.keyId;
  });
  return `${parsed.text}\n${others.map((l) => `${l}\n`).join("")}${signatureLine(cosigner, parsed.text)}`;
}
