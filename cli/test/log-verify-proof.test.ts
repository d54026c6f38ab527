import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../main.js";
import { describeWithVectors, vectorPath } from "../../testing/vectors.js";
import { formatVerifierKey, generateNoteKey, inclusionProof, consistencyProof, leafHash, parseSignerKey, rootOf, signCheckpoint } from "../../protocol/tlog/index.js";

async function run(argv: string[]) {
  const out: string[] = [];
  const code = await main(argv, { out: (t) => void out.push(t), err: (t) => void out.push(t) });
  return { code, text: out.join("\n") };
}

describeWithVectors("propeller log verify-proof on transparency-dev's vectors", () => {
  it("exits 0 exactly for the cases that must verify and 1 for the rest", async () => {
    const wrong: string[] = [];
    let n = 0;
    for (const kind of ["inclusion", "consistency"]) {
      const dir = vectorPath(join("tlog", kind));
      for (const sub of readdirSync(dir)) {
        for (const f of readdirSync(join(dir, sub)).filter((x) => x.endsWith(".json"))) {
          const file = join(dir, sub, f);
          const v = JSON.parse(readFileSync(file, "utf8")) as { wantErr: boolean };
          // The vector file as it is: a bundle has the same fields.
          const { code } = await run(["log", "verify-proof", file]);
          n++;
          if (code !== (v.wantErr ? 1 : 0)) wrong.push(`${kind}/${sub}/${f}: exit ${code}`);
        }
      }
    }
    expect(n).toBeGreaterThan(150);
    expect(wrong).toEqual([]);
  }, 60_000);
});

const dir0 = mkdtemp(join(tmpdir(), "verify-proof-"));

describe("propeller log verify-proof", () => {
  const leaves = Array.from({ length: 11 }, (_, i) => leafHash(Buffer.from(`receipt ${i}`)));
  const signer = parseSignerKey(generateNoteKey("test.example/log").signerKey);
  const logKey = formatVerifierKey(signer);
  const root = rootOf(leaves);
  const good = {
    leafIdx: 4,
    treeSize: 11,
    root: root.toString("base64"),
    leafHash: leaves[4]!.toString("base64"),
    proof: inclusionProof(leaves, 4).map((h) => h.toString("base64")),
    entry: Buffer.from("receipt 4").toString("base64"),
    checkpoint: signCheckpoint({ origin: signer.name, size: 11, root }, signer),
  };
  const file = async (name: string, value: unknown) => {
    const path = join(await dir0, name);
    await writeFile(path, typeof value === "string" ? value : JSON.stringify(value));
    return path;
  };

  it("holds for a good inclusion bundle with its signed checkpoint, and says so", async () => {
    const r = await run(["log", "verify-proof", await file("good.json", good), "--log-key", logKey]);
    expect(r).toMatchObject({ code: 0 });
    expect(r.text).toMatch(/inclusion proof holds/);
    expect(r.text).toMatch(/✔ checkpoint/);
  });

  it("fails, saying why, for a truncated proof, a forged proof hash, a bad checkpoint signature and a checkpoint of a smaller size", async () => {
    const truncated = await run(["log", "verify-proof", await file("trunc.json", { ...good, proof: good.proof.slice(0, -1) })]);
    expect(truncated.code).toBe(1);
    expect(truncated.text).toMatch(/fewer than a tree of size 11 needs/);

    const forgedHash = Buffer.from(good.proof[1]!, "base64");
    forgedHash[0]! ^= 1;
    const forged = await run(["log", "verify-proof", await file("forged.json", { ...good, proof: [good.proof[0], forgedHash.toString("base64"), ...good.proof.slice(2)] })]);
    expect(forged.code).toBe(1);
    expect(forged.text).toMatch(/not the expected/);

    const other = parseSignerKey(generateNoteKey("test.example/log").signerKey);
    const badSig = await run(["log", "verify-proof", await file("badsig.json", { ...good, checkpoint: signCheckpoint({ origin: signer.name, size: 11, root }, other) }), "--log-key", logKey]);
    expect(badSig.code).toBe(1);
    expect(badSig.text).toMatch(/no signature from a known key/);

    const smaller = await run(["log", "verify-proof", await file("smaller.json", { ...good, checkpoint: signCheckpoint({ origin: signer.name, size: 10, root: rootOf(leaves, 0, 10) }, signer) }), "--log-key", logKey]);
    expect(smaller.code).toBe(1);
    expect(smaller.text).toMatch(/size 10 .*not the proof's size 11/);

    const wrongEntry = await run(["log", "verify-proof", await file("entry.json", { ...good, entry: Buffer.from("receipt 5").toString("base64") })]);
    expect(wrongEntry.code).toBe(1);
    expect(wrongEntry.text).toMatch(/entry.leaf-hash/);
  });

  it("checks consistency bundles, including a smaller size2 and a fork at equal sizes", async () => {
    const c = { size1: 6, size2: 11, root1: rootOf(leaves, 0, 6).toString("base64"), root2: root.toString("base64"), proof: consistencyProof(leaves, 6, 11).map((h) => h.toString("base64")) };
    expect((await run(["log", "verify-proof", await file("c.json", c)])).code).toBe(0);
    const back = await run(["log", "verify-proof", await file("back.json", { ...c, size1: 11, size2: 6, root1: c.root2, root2: c.root1 })]);
    expect(back.code).toBe(1);
    expect(back.text).toMatch(/larger than size2/);
    const fork = await run(["log", "verify-proof", await file("fork.json", { size1: 11, size2: 11, root1: c.root2, root2: c.root1, proof: [] })]);
    expect(fork.code).toBe(1);
    expect(fork.text).toMatch(/forked/);
  });

  it("refuses what is not a bundle with exit 1, and bad usage with exit 2", async () => {
    expect((await run(["log", "verify-proof", await file("junk.json", "not json")])).code).toBe(1);
    expect((await run(["log", "verify-proof", await file("shape.json", { leafIdx: "x" })])).code).toBe(1);
    expect((await run(["log", "verify-proof"])).code).toBe(2);
    expect((await run(["log", "verify-proof", await file("g2.json", good), "--log-key", "nonsense"])).code).toBe(2);
  });
});
