import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { describeWithVectors, vectorPath } from "../../../testing/vectors.js";
import {
  consistencyProof,
  consistencyProofRanges,
  hashRange,
  inclusionProof,
  leafHash,
  rangeNodes,
  rootOf,
  verifyConsistency,
  verifyInclusion,
} from "../merkle.js";

const b64 = (s: string) => Buffer.from(s, "base64");

function cases(kind: "inclusion" | "consistency"): Array<{ file: string; data: Record<string, unknown> }> {
  const dir = vectorPath(join("tlog", kind));
  return readdirSync(dir).flatMap((sub) =>
    readdirSync(join(dir, sub))
      .filter((f) => f.endsWith(".json"))
      .map((f) => ({ file: `${kind}/${sub}/${f}`, data: JSON.parse(readFileSync(join(dir, sub, f), "utf8")) as Record<string, unknown> })),
  );
}

describeWithVectors("RFC 9162 proofs against transparency-dev's vectors", () => {
  it("verifies every inclusion case exactly when wantErr is false", () => {
    const all = cases("inclusion");
    expect(all.length).toBeGreaterThan(50);
    const wrong = all.filter(({ data: v }) => {
      const verdict = verifyInclusion(v.leafIdx as number, v.treeSize as number, b64(v.leafHash as string), ((v.proof as string[] | null) ?? []).map(b64), b64(v.root as string));
      return verdict.ok === (v.wantErr as boolean);
    });
    expect(wrong.map((w) => w.file)).toEqual([]);
    expect(all.some((c) => c.data.wantErr === false)).toBe(true);
  });

  it("verifies every consistency case exactly when wantErr is false", () => {
    const all = cases("consistency");
    expect(all.length).toBeGreaterThan(50);
    const wrong = all.filter(({ data: v }) => {
      const verdict = verifyConsistency(v.size1 as number, v.size2 as number, b64(v.root1 as string), b64(v.root2 as string), ((v.proof as string[] | null) ?? []).map(b64));
      return verdict.ok === (v.wantErr as boolean);
    });
    expect(wrong.map((w) => w.file)).toEqual([]);
  });
});

describe("Merkle prover", () => {
  const leaves = Array.from({ length: 70 }, (_, i) => leafHash(Buffer.from(`entry ${i}`)));

  it("produces inclusion proofs that verify for every leaf of every size up to 70, and fail for a neighbour", () => {
    for (let size = 1; size <= leaves.length; size++) {
      const root = rootOf(leaves, 0, size);
      for (let i = 0; i < size; i++) {
        const proof = inclusionProof(leaves, i, size);
        expect(verifyInclusion(i, size, leaves[i]!, proof, root)).toEqual({ ok: true });
        if (size > 1) expect(verifyInclusion(i, size, leaves[(i + 1) % size]!, proof, root).ok).toBe(false);
      }
    }
  });

  it("produces consistency proofs that verify for every pair of sizes up to 70, and fail for a wrong old root", () => {
    for (let size2 = 1; size2 <= leaves.length; size2++) {
      const root2 = rootOf(leaves, 0, size2);
      for (let size1 = 1; size1 <= size2; size1++) {
        const proof = consistencyProof(leaves, size1, size2);
        const root1 = rootOf(leaves, 0, size1);
        expect(verifyConsistency(size1, size2, root1, root2, proof)).toEqual({ ok: true });
        if (size1 < size2) expect(verifyConsistency(size1, size2, rootOf(leaves, 1, size1 + 1), root2, proof).ok).toBe(false);
      }
    }
  });

  it("computes range hashes from complete-subtree hashes as the recursive definition does", () => {
    const node = (level: number, index: number) => rootOf(leaves, index * 2 ** level, (index + 1) * 2 ** level);
    for (let size = 1; size <= leaves.length; size++) {
      expect(hashRange(0, size, node).equals(rootOf(leaves, 0, size))).toBe(true);
      for (const r of consistencyProofRanges(Math.max(1, size - 5), size)) {
        expect(hashRange(r.start, r.end, node).equals(rootOf(leaves, r.start, r.end))).toBe(true);
      }
    }
    // 70 = 64 + 4 + 2: three complete subtrees.
    expect(rangeNodes(0, 70)).toEqual([{ level: 6, index: 0 }, { level: 2, index: 16 }, { level: 1, index: 34 }]);
  });

  it("rejects a truncated proof, an extended proof and an index outside the tree", () => {
    const root = rootOf(leaves, 0, 37);
    const proof = inclusionProof(leaves, 5, 37);
    expect(verifyInclusion(5, 37, leaves[5]!, proof.slice(0, -1), root)).toMatchObject({ ok: false, reason: expect.stringMatching(/fewer/) });
    expect(verifyInclusion(5, 37, leaves[5]!, [...proof, proof[0]!], root)).toMatchObject({ ok: false, reason: expect.stringMatching(/more/) });
    expect(verifyInclusion(37, 37, leaves[5]!, proof, root)).toMatchObject({ ok: false, reason: expect.stringMatching(/not below/) });
    expect(verifyConsistency(10, 9, root, root, [])).toMatchObject({ ok: false, reason: expect.stringMatching(/larger/) });
  });
});
