/**
 * Proof bundles: what the log's proof routes answer and what `propeller log verify-proof` reads.
 * The fields are those of transparency-dev's proof test vectors (base64 hashes), plus the signed
 * checkpoint the proof refers to, so a user can save one and check it later, offline.
 */
import { Type, type Static } from "@sinclair/typebox";
import { validate } from "../codec.js";
import { openCheckpoint, type OpenedCheckpoint, type WitnessPolicy } from "./checkpoint.js";
import { leafHash, verifyConsistency, verifyInclusion } from "./merkle.js";
import type { NoteVerifier } from "./note.js";
import { messageOf } from "../../lib/errors.js";

const Hash = Type.String({ pattern: "^[A-Za-z0-9+/]{43}=$", description: "base64 SHA-256 hash" });
/** Up to 63 hashes: a tree of 2^63 leaves needs no more. */
const Proof = Type.Array(Hash, { maxItems: 63 });
const Count = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const SignedCheckpoint = Type.String({ maxLength: 64 * 1024, description: "C2SP signed checkpoint note" });

export const InclusionBundle = Type.Object(
  {
    leafIdx: Count,
    treeSize: Count,
    root: Hash,
    leafHash: Hash,
    proof: Proof,
    /** The signed checkpoint of size treeSize and this root. */
    checkpoint: Type.Optional(SignedCheckpoint),
    /** The log entry (the receipt's compact JWS bytes, base64): its leaf hash must be leafHash. */
    entry: Type.Optional(Type.String({ maxLength: 128 * 1024 })),
    runId: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false, $id: "TlogInclusionBundle" },
);
export type InclusionBundle = Static<typeof InclusionBundle>;

export const ConsistencyBundle = Type.Object(
  {
    size1: Count,
    size2: Count,
    root1: Hash,
    root2: Hash,
    proof: Proof,
    checkpoint1: Type.Optional(SignedCheckpoint),
    checkpoint2: Type.Optional(SignedCheckpoint),
  },
  { additionalProperties: false, $id: "TlogConsistencyBundle" },
);
export type ConsistencyBundle = Static<typeof ConsistencyBundle>;

export type ProofBundle = ({ kind: "inclusion" } & InclusionBundle) | ({ kind: "consistency" } & ConsistencyBundle);

/** Which kind a JSON value is, validated against its schema (throws SchemaError). */
export function parseProofBundle(input: unknown): ProofBundle {
  // The vectors write an empty proof as null; their extra fields (desc, wantErr) are not part of a bundle.
  const value = typeof input === "object" && input !== null && (input as { proof?: unknown }).proof === null ? { ...input, proof: [] } : input;
  if (typeof value === "object" && value !== null && "leafIdx" in value) {
    const { desc: _d, wantErr: _w, ...rest } = value as Record<string, unknown>;
    return { kind: "inclusion", ...validate(InclusionBundle, rest, "inclusion proof bundle") };
  }
  if (typeof value === "object" && value !== null && "size1" in value) {
    const { desc: _d, wantErr: _w, ...rest } = value as Record<string, unknown>;
    return { kind: "consistency", ...validate(ConsistencyBundle, rest, "consistency proof bundle") };
  }
  return { kind: "inclusion", ...validate(InclusionBundle, value, "proof bundle (inclusion or consistency)") };
}

export interface BundleVerdict {
  ok: boolean;
  /** What was checked, each with why it failed. */
  checks: Array<{ name: string; ok: boolean; detail: string }>;
}

export interface BundleOptions {
  /** The log's pinned key: the bundle's checkpoint(s) must be signed by it and match the proof. */
  logKey?: NoteVerifier;
  witnesses?: WitnessPolicy;
}

const b64 = (s: string) => Buffer.from(s, "base64");

function checkpointCheck(name: string, note: string | undefined, size: number, root: string, options: BundleOptions, out: BundleVerdict["checks"]): OpenedCheckpoint | null {
  if (!options.logKey) {
    if (note !== undefined) out.push({ name, ok: true, detail: "carried but not checked: no log key was given" });
    return null;
  }
  if (note === undefined) {
    out.push({ name, ok: false, detail: "a log key was given but the bundle carries no checkpoint to check it against" });
    return null;
  }
  try {
    const opened = openCheckpoint(note, options.logKey, options.witnesses);
    const cp = opened.checkpoint;
    const matches = cp.size === size && cp.root.toString("base64") === root;
    out.push({
      name,
      ok: matches,
      detail: matches
        ? `signed by ${options.logKey.name}${opened.cosignedBy.length ? `, cosigned by ${opened.cosignedBy.map((c) => c.name).join(", ")}` : ""}`
        : `the signed checkpoint is size ${cp.size} root ${cp.root.toString("base64")}, not the proof's size ${size} root ${root}`,
    });
    return opened;
  } catch (err) {
    out.push({ name, ok: false, detail: messageOf(err) });
    return null;
  }
}

/** Verifies a bundle: the proof itself, the entry against its leaf hash, the checkpoint(s) against the log key. */
export function verifyProofBundle(bundle: ProofBundle, options: BundleOptions = {}): BundleVerdict {
  const checks: BundleVerdict["checks"] = [];
  if (bundle.kind === "inclusion") {
    if (bundle.entry !== undefined) {
      const actual = leafHash(b64(bundle.entry)).toString("base64");
      checks.push({ name: "entry.leaf-hash", ok: actual === bundle.leafHash, detail: actual === bundle.leafHash ? "the entry hashes to leafHash" : `the entry hashes to ${actual}, not leafHash ${bundle.leafHash}` });
    }
    const v = verifyInclusion(bundle.leafIdx, bundle.treeSize, b64(bundle.leafHash), bundle.proof.map(b64), b64(bundle.root));
    checks.push({ name: "proof.inclusion", ok: v.ok, detail: v.ok ? `leaf ${bundle.leafIdx} is in the tree of size ${bundle.treeSize}` : v.reason });
    checkpointCheck("checkpoint", bundle.checkpoint, bundle.treeSize, bundle.root, options, checks);
  } else {
    const v = verifyConsistency(bundle.size1, bundle.size2, b64(bundle.root1), b64(bundle.root2), bundle.proof.map(b64));
    checks.push({ name: "proof.consistency", ok: v.ok, detail: v.ok ? `the tree of size ${bundle.size1} is a prefix of the tree of size ${bundle.size2}` : v.reason });
    checkpointCheck("checkpoint1", bundle.checkpoint1, bundle.size1, bundle.root1, options, checks);
    checkpointCheck("checkpoint2", bundle.checkpoint2, bundle.size2, bundle.root2, options, checks);
  }
  return { ok: checks.every((c) => c.ok), checks };
}
