/**
 * The right edge of a tree: the hashes of the complete subtrees that make up [0, size), largest
 * first (one per set bit of size). Enough to append leaves and compute every later root without
 * holding the tree: a monitor keeps this, hashes each new entry into it, and compares the root with
 * the next checkpoint — a rewritten or missing entry shows as a root mismatch.
 */
import { emptyRoot, nodeHash, rangeNodes } from "./merkle.js";

export interface Frontier {
  size: number;
  /** Complete-subtree hashes left to right (their levels follow from size). */
  hashes: Buffer[];
}

export function emptyFrontier(): Frontier {
  return { size: 0, hashes: [] };
}

export function appendLeaf(f: Frontier, leaf: Buffer): Frontier {
  const hashes = [...f.hashes, leaf];
  // Each trailing 1-bit of the old size is a subtree of equal height that the new leaf completes.
  let carry = f.size;
  while (carry % 2 === 1) {
    const right = hashes.pop()!;
    const left = hashes.pop()!;
    hashes.push(nodeHash(left, right));
    carry = (carry - 1) / 2;
  }
  return { size: f.size + 1, hashes };
}

export function frontierRoot(f: Frontier): Buffer {
  if (f.hashes.length === 0) return emptyRoot();
  let r = f.hashes[f.hashes.length - 1]!;
  for (let i = f.hashes.length - 2; i >= 0; i--) r = nodeHash(f.hashes[i]!, r);
  return r;
}

/** The frontier of size n from a resolver of complete-subtree hashes. */
export function frontierFrom(size: number, node: (level: number, index: number) => Buffer): Frontier {
  return { size, hashes: rangeNodes(0, size).map((n) => node(n.level, n.index)) };
}

export function isValidFrontier(f: Frontier): boolean {
  return Number.isSafeInteger(f.size) && f.size >= 0 && rangeNodes(0, f.size).length === f.hashes.length && f.hashes.every((h) => h.length === 32);
}
