/**
 * RFC 9162 (section 2.1) Merkle tree hashing and proofs, as plain functions.
 *
 * leaf hash = SHA-256(0x00 ‖ entry), node hash = SHA-256(0x01 ‖ left ‖ right). The tree over n
 * leaves splits at k, the largest power of two smaller than n. Sizes and indexes are JavaScript
 * numbers (exact below 2^53, far beyond any log this service will hold); bit operations are done
 * with arithmetic so they stay exact past 2^31.
 *
 * The prover side is written against ranges: a proof is a list of leaf ranges [start, end) whose
 * Merkle Tree Hash (MTH) is needed, and a resolver turns each range into a hash. In memory the
 * resolver hashes leaves; the manager resolves ranges from stored complete-subtree hashes.
 */
import { createHash } from "node:crypto";
import { PropellerError } from "../errors.js";
import { messageOf } from "../../lib/errors.js";

export const HASH_SIZE = 32;

/** A proof or tree argument that cannot hold (bad index, wrong length, mismatch). */
export class TlogProofError extends PropellerError {
  constructor(message: string, details?: Record<string, unknown>) {
    super("tlog_proof_invalid", message, details);
  }
}

export function leafHash(entry: Uint8Array): Buffer {
  return createHash("sha256").update(Buffer.from([0])).update(entry).digest();
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return createHash("sha256").update(Buffer.from([1])).update(left).update(right).digest();
}

/** MTH of the empty tree: SHA-256 of nothing. */
export function emptyRoot(): Buffer {
  return createHash("sha256").digest();
}

/** The largest power of two strictly smaller than n (n ≥ 2). */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isPowerOfTwo(n: number): boolean {
  return n >= 1 && Number.isInteger(Math.log2(n)) && 2 ** Math.log2(n) === n;
}

/** A range of leaves [start, end). */
export interface LeafRange {
  start: number;
  end: number;
}

/** One complete, aligned subtree: leaves [index·2^level, (index+1)·2^level). */
export interface SubtreeNode {
  level: number;
  index: number;
}

/**
 * The complete aligned subtrees whose hashes make up MTH(D[start:end]), left to right. Valid for the
 * ranges the RFC recursion produces (start is a multiple of the subtree size containing the range).
 */
export function rangeNodes(start: number, end: number): SubtreeNode[] {
  const out: SubtreeNode[] = [];
  const walk = (s: number, e: number) => {
    const n = e - s;
    if (isPowerOfTwo(n) && s % n === 0) {
      out.push({ level: Math.log2(n), index: s / n });
      return;
    }
    const k = splitPoint(n);
    walk(s, s + k);
    walk(s + k, e);
  };
  if (end > start) walk(start, end);
  return out;
}

/** MTH(D[start:end]) from the hashes of its complete subtrees (`node` answers each of rangeNodes). */
export function hashRange(start: number, end: number, node: (level: number, index: number) => Buffer): Buffer {
  const n = end - start;
  if (n <= 0) return emptyRoot();
  if (isPowerOfTwo(n) && start % n === 0) return node(Math.log2(n), start / n);
  const k = splitPoint(n);
  return nodeHash(hashRange(start, start + k, node), hashRange(start + k, end, node));
}

/** The ranges whose MTHs form the inclusion proof of leaf `index` in a tree of `size` (RFC 9162 2.1.3.1). */
export function inclusionProofRanges(index: number, size: number): LeafRange[] {
  checkIndex(index, size);
  const out: LeafRange[] = [];
  // PATH(m, D[s:e]), iteratively from the root down; the proof lists the deepest sibling first.
  let s = 0;
  let e = size;
  while (e - s > 1) {
    const k = splitPoint(e - s);
    if (index < s + k) {
      out.push({ start: s + k, end: e });
      e = s + k;
    } else {
      out.push({ start: s, end: s + k });
      s += k;
    }
  }
  return out.reverse();
}

/** The ranges whose MTHs form the consistency proof from size1 to size2 (RFC 9162 2.1.4.1). */
export function consistencyProofRanges(size1: number, size2: number): LeafRange[] {
  checkSizes(size1, size2);
  if (size1 === 0 || size1 === size2) return [];
  const out: LeafRange[] = [];
  // SUBPROOF(m, D[s:e], b) from the top down; collected top-down, emitted deepest first.
  let s = 0;
  let e = size2;
  let m = size1;
  let complete = true;
  for (;;) {
    const n = e - s;
    if (m === n) {
      if (!complete) out.push({ start: s, end: e });
      break;
    }
    const k = splitPoint(n);
    if (m <= k) {
      out.push({ start: s + k, end: e });
      e = s + k;
    } else {
      out.push({ start: s, end: s + k });
      s += k;
      m -= k;
      complete = false;
    }
  }
  return out.reverse();
}

/** In-memory resolver over leaf hashes (tests, benchmarks, monitors that hold the whole tree). */
export function rootOf(leaves: readonly Buffer[], start = 0, end = leaves.length): Buffer {
  const n = end - start;
  if (n <= 0) return emptyRoot();
  if (n === 1) return leaves[start]!;
  const k = splitPoint(n);
  return nodeHash(rootOf(leaves, start, start + k), rootOf(leaves, start + k, end));
}

export function inclusionProof(leaves: readonly Buffer[], index: number, size = leaves.length): Buffer[] {
  if (size > leaves.length) throw new TlogProofError(`tree size ${size} exceeds the ${leaves.length} leaves held`);
  return inclusionProofRanges(index, size).map((r) => rootOf(leaves, r.start, r.end));
}

export function consistencyProof(leaves: readonly Buffer[], size1: number, size2 = leaves.length): Buffer[] {
  if (size2 > leaves.length) throw new TlogProofError(`tree size ${size2} exceeds the ${leaves.length} leaves held`);
  return consistencyProofRanges(size1, size2).map((r) => rootOf(leaves, r.start, r.end));
}

/** Why a proof fails, or null when it holds. */
export type ProofVerdict = { ok: true } | { ok: false; reason: string };

function fail(reason: string): ProofVerdict {
  return { ok: false, reason };
}

function isCount(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

function checkIndex(index: number, size: number): void {
  if (!isCount(index) || !isCount(size)) throw new TlogProofError(`leaf index ${index} and tree size ${size} must be non-negative integers`);
  if (index >= size) throw new TlogProofError(`leaf index ${index} is not below tree size ${size}`);
}

function checkSizes(size1: number, size2: number): void {
  if (!isCount(size1) || !isCount(size2)) throw new TlogProofError(`tree sizes ${size1} and ${size2} must be non-negative integers`);
  if (size1 > size2) throw new TlogProofError(`size1 ${size1} is larger than size2 ${size2}`);
}

function checkHashes(proof: readonly Uint8Array[]): string | null {
  const bad = proof.findIndex((p) => p.length !== HASH_SIZE);
  return bad >= 0 ? `proof hash ${bad} is ${proof[bad]!.length} bytes, not ${HASH_SIZE}` : null;
}

/** RFC 9162 2.1.3.2: the root that an inclusion proof implies (throws when the proof's shape is wrong). */
export function rootFromInclusionProof(index: number, size: number, leaf: Uint8Array, proof: readonly Uint8Array[]): Buffer {
  checkIndex(index, size);
  const bad = checkHashes(proof);
  if (bad) throw new TlogProofError(bad);
  if (leaf.length !== HASH_SIZE) throw new TlogProofError(`leaf hash is ${leaf.length} bytes, not ${HASH_SIZE}`);
  let fn = index;
  let sn = size - 1;
  let r: Buffer = Buffer.from(leaf);
  for (const p of proof) {
    if (sn === 0) throw new TlogProofError(`proof has ${proof.length} hashes, more than a tree of size ${size} needs`);
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new TlogProofError(`proof has ${proof.length} hashes, fewer than a tree of size ${size} needs`);
  return r;
}

export function verifyInclusion(index: number, size: number, leaf: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): ProofVerdict {
  let computed: Buffer;
  try {
    computed = rootFromInclusionProof(index, size, leaf, proof);
  } catch (err) {
    if (err instanceof TlogProofError) return fail(err.message);
    throw err;
  }
  if (!computed.equals(root)) return fail(`the proof leads to root ${computed.toString("base64")}, not the expected ${Buffer.from(root).toString("base64")}`);
  return { ok: true };
}

/** RFC 9162 2.1.4.2: does `proof` show that the tree (size1, root1) is a prefix of (size2, root2)? */
export function verifyConsistency(size1: number, size2: number, root1: Uint8Array, root2: Uint8Array, proof: readonly Uint8Array[]): ProofVerdict {
  try {
    checkSizes(size1, size2);
  } catch (err) {
    return fail(messageOf(err));
  }
  const bad = checkHashes(proof);
  if (bad) return fail(bad);
  if (size1 === size2) {
    if (proof.length > 0) return fail("equal sizes need an empty proof");
    return Buffer.from(root1).equals(root2) ? { ok: true } : fail(`two different roots for size ${size1}: the log forked`);
  }
  if (size1 === 0) {
    // Every tree extends the empty tree; a proof from size 0 must be empty.
    return proof.length === 0 ? { ok: true } : fail("a proof from size 0 must be empty");
  }
  if (proof.length === 0) return fail("empty proof for different sizes");
  // When size1 is a power of two its root is a node of the larger tree, and the proof omits it.
  const path = isPowerOfTwo(size1) ? [Buffer.from(root1), ...proof.map((p) => Buffer.from(p))] : proof.map((p) => Buffer.from(p));
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = (fn - 1) / 2;
    sn = Math.floor(sn / 2);
  }
  let fr: Buffer = path[0]!;
  let sr: Buffer = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return fail(`proof has ${proof.length} hashes, more than sizes ${size1}→${size2} need`);
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) return fail(`proof has ${proof.length} hashes, fewer than sizes ${size1}→${size2} need`);
  if (!fr.equals(root1)) return fail(`the proof does not lead to root1 ${Buffer.from(root1).toString("base64")} (got ${fr.toString("base64")}): the old tree is not a prefix`);
  if (!sr.equals(root2)) return fail(`the proof does not lead to root2 ${Buffer.from(root2).toString("base64")} (got ${sr.toString("base64")}): the new tree does not extend the old one`);
  return { ok: true };
}
