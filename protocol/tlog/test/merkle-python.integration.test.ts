import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { consistencyProof, inclusionProof, leafHash, rootOf } from "../merkle.js";

/**
 * An independent computation of the same trees: RFC 9162's recursive definitions written in Python
 * with hashlib, run in a child process, compared hash for hash.
 */
const PYTHON = String.raw`
import hashlib, json, sys
def leaf(b): return hashlib.sha256(b"\x00" + b).digest()
def node(l, r): return hashlib.sha256(b"\x01" + l + r).digest()
def k_of(n):
    k = 1
    while k * 2 < n: k *= 2
    return k
def mth(d):
    if len(d) == 0: return hashlib.sha256(b"").digest()
    if len(d) == 1: return leaf(d[0])
    k = k_of(len(d)); return node(mth(d[:k]), mth(d[k:]))
def path(m, d):
    if len(d) <= 1: return []
    k = k_of(len(d))
    return path(m, d[:k]) + [mth(d[k:])] if m < k else path(m - k, d[k:]) + [mth(d[:k])]
def subproof(m, d, b):
    n = len(d)
    if m == n: return [] if b else [mth(d)]
    k = k_of(n)
    return subproof(m, d[:k], b) + [mth(d[k:])] if m <= k else subproof(m - k, d[k:], False) + [mth(d[:k])]
entries = [("entry %d" % i).encode() for i in range(int(sys.argv[1]))]
e = lambda h: __import__("base64").b64encode(h).decode()
out = {"roots": [e(mth(entries[:n])) for n in range(len(entries) + 1)],
       "inclusion": {"%d/%d" % (m, n): [e(h) for h in path(m, entries[:n])] for n in range(1, len(entries) + 1, 7) for m in range(0, n, 3)},
       "consistency": {"%d/%d" % (m, n): [e(h) for h in subproof(m, entries[:n], True)] for n in range(1, len(entries) + 1, 5) for m in range(1, n + 1, 2)}}
print(json.dumps(out))
`;

describe("Merkle core against an independent Python computation", () => {
  it("agrees on every root, inclusion proof and consistency proof over 100 entries", () => {
    const n = 100;
    const py = JSON.parse(execFileSync("python3", ["-c", PYTHON, String(n)], { encoding: "utf8", timeout: 30_000 })) as {
      roots: string[];
      inclusion: Record<string, string[]>;
      consistency: Record<string, string[]>;
    };
    const leaves = Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`entry ${i}`)));
    const b64 = (hs: Buffer[]) => hs.map((h) => h.toString("base64"));
    expect(py.roots.map((_, size) => rootOf(leaves, 0, size).toString("base64"))).toEqual(py.roots);
    expect(Object.keys(py.inclusion).length).toBeGreaterThan(50);
    for (const [key, proof] of Object.entries(py.inclusion)) {
      const [m, size] = key.split("/").map(Number) as [number, number];
      expect(b64(inclusionProof(leaves, m, size)), key).toEqual(proof);
    }
    for (const [key, proof] of Object.entries(py.consistency)) {
      const [m, size] = key.split("/").map(Number) as [number, number];
      expect(b64(consistencyProof(leaves, m, size)), key).toEqual(proof);
    }
  });
});
