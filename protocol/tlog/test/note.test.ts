import { describe, expect, it } from "vitest";
import {
  addCosignature,
  appendLeaf,
  decodeEntryBundle,
  emptyFrontier,
  encodeEntryBundle,
  encodeTileIndex,
  formatCheckpoint,
  formatVerifierKey,
  frontierRoot,
  generateNoteKey,
  keyId,
  leafHash,
  openCheckpoint,
  openNote,
  parseCheckpointText,
  parseNote,
  parseProofBundle,
  parseSignerKey,
  parseTilePath,
  parseVerifierKey,
  rootOf,
  signCheckpoint,
  signNote,
  SIG_COSIGNATURE_V1,
  inclusionProof,
  verifyProofBundle,
  partialWidth,
} from "../index.js";

const root = rootOf([leafHash(Buffer.from("a")), leafHash(Buffer.from("b")), leafHash(Buffer.from("c"))]);

describe("C2SP signed-note", () => {
  it("verifies the example note of Go's sumdb/note documentation (interoperable key IDs and signatures)", () => {
    const v = parseVerifierKey("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
    const text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const note = `${text}\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`;
    expect(openNote(note, [v]).verifiedBy).toEqual([v]);
    expect(() => openNote(note.replace("problem,", "problem;"), [v])).toThrow(/does not verify/);
  });

  it("computes the key ID as SHA-256(name ‖ 0x0A ‖ type ‖ key)[:4]", () => {
    const { verifierKey } = generateNoteKey("example.com/log");
    const v = parseVerifierKey(verifierKey);
    expect(v.keyId).toBe(keyId("example.com/log", 1, v.publicKey));
    expect(verifierKey.split("+")[1]).toBe(v.keyId.toString(16).padStart(8, "0"));
  });

  it("signs and opens a note, ignores unknown keys, rejects a bad signature from a known key and a wrong key ID", () => {
    const a = parseSignerKey(generateNoteKey("a.example").signerKey);
    const b = parseSignerKey(generateNoteKey("b.example").signerKey);
    const note = signNote("hello\n", [a, b]);
    const vA = parseVerifierKey(formatVerifierKey(a));
    expect(openNote(note, [vA]).note.text).toBe("hello\n");
    expect(() => openNote(note, [parseVerifierKey(generateNoteKey("c.example").verifierKey)])).toThrow(/no signature from a known key/);
    const flip = (sig: string) => Buffer.from(Buffer.from(sig, "base64").map((x, i) => (i === 10 ? x ^ 1 : x))).toString("base64");
    const forged = note.replace(/(\u2014 a\.example )(\S+)/u, (_m, p: string, sig: string) => p + flip(sig));
    expect(() => openNote(forged, [vA])).toThrow(/does not verify/);
    // The key's base64 may itself hold "+": only the first two separate fields.
    const vkey = formatVerifierKey(a);
    const wrongId = `a.example+${((a.keyId + 1) % 2 ** 32).toString(16).padStart(8, "0")}+${vkey.slice("a.example+12345678+".length)}`;
    expect(() => parseVerifierKey(wrongId)).toThrow(/does not match/);
  });

  it("refuses malformed notes with a reason", () => {
    expect(() => parseNote("no blank line\n\u2014 a AAAA\n")).toThrow(/blank line/);
    expect(() => parseNote("text\n\nnot a signature\n")).toThrow(/signature line 1/);
    expect(() => parseNote("te\u0007xt\n\n\u2014 a AAAAAAAA\n")).toThrow(/control character/);
    expect(() => parseNote(Buffer.from([0x74, 0xff, 0x0a, 0x0a]))).toThrow(/UTF-8/);
    expect(() => parseVerifierKey("a+12345678+AAAA")).toThrow(/only Ed25519/);
  });
});

describe("C2SP tlog-checkpoint and tlog-cosignature", () => {
  const log = parseSignerKey(generateNoteKey("propeller.example/log").signerKey);
  const logKey = parseVerifierKey(formatVerifierKey(log));
  const witnessKeys = generateNoteKey("witness.example/w1", SIG_COSIGNATURE_V1);
  const witness = parseSignerKey(witnessKeys.signerKey);
  const witnessKey = parseVerifierKey(witnessKeys.verifierKey);

  it("formats and parses the three lines", () => {
    const text = formatCheckpoint({ origin: log.name, size: 3, root });
    expect(text).toBe(`propeller.example/log\n3\n${root.toString("base64")}\n`);
    expect(parseCheckpointText(text)).toEqual({ origin: log.name, size: 3, root, extensions: [] });
    expect(() => parseCheckpointText(`o\n03\n${root.toString("base64")}\n`)).toThrow(/leading zeroes/);
    expect(() => parseCheckpointText("o\n3\nAAAA\n")).toThrow(/base64 SHA-256/);
  });

  it("opens a signed checkpoint with the pinned key; refuses another origin and a bad signature", () => {
    const note = signCheckpoint({ origin: log.name, size: 3, root }, log);
    expect(openCheckpoint(note, logKey).checkpoint.size).toBe(3);
    const other = parseSignerKey(generateNoteKey("propeller.example/log").signerKey);
    expect(() => openCheckpoint(signCheckpoint({ origin: log.name, size: 3, root }, other), logKey)).toThrow(/no signature from a known key/);
    const tampered = note.replace("\n3\n", "\n4\n");
    expect(() => openCheckpoint(tampered, logKey)).toThrow(/does not verify/);
  });

  it("adds a timestamped cosignature/v1, verifies it, and enforces the witness quorum", () => {
    const note = signCheckpoint({ origin: log.name, size: 3, root }, log);
    expect(() => openCheckpoint(note, logKey, { witnesses: [witnessKey], quorum: 1 })).toThrow(/requires 1/);
    const cosigned = addCosignature(note, witness);
    const opened = openCheckpoint(cosigned, logKey, { witnesses: [witnessKey], quorum: 1 });
    expect(opened.cosignedBy).toHaveLength(1);
    expect(Math.abs(opened.cosignedBy[0]!.timestamp - Date.now() / 1000)).toBeLessThan(5);
    // Cosigning again replaces the old line rather than adding a second.
    expect(parseNote(addCosignature(cosigned, witness)).signatures).toHaveLength(2);
    // The cosignature covers the checkpoint text: moved onto another checkpoint it fails.
    const line = cosigned.split("\n").find((l) => l.startsWith("\u2014 witness"))!;
    const otherNote = signCheckpoint({ origin: log.name, size: 4, root }, log);
    expect(() => openCheckpoint(`${otherNote}${line}\n`, logKey, { witnesses: [witnessKey], quorum: 1 })).toThrow(/does not verify/);
  });
});

describe("proof bundles", () => {
  const leaves = ["a", "b", "c", "d", "e"].map((s) => leafHash(Buffer.from(s)));
  const log = parseSignerKey(generateNoteKey("propeller.example/log").signerKey);
  const logKey = parseVerifierKey(formatVerifierKey(log));
  const r5 = rootOf(leaves);
  const bundle = {
    leafIdx: 2,
    treeSize: 5,
    root: r5.toString("base64"),
    leafHash: leaves[2]!.toString("base64"),
    proof: inclusionProof(leaves, 2).map((h) => h.toString("base64")),
    entry: Buffer.from("c").toString("base64"),
    checkpoint: signCheckpoint({ origin: log.name, size: 5, root: r5 }, log),
  };

  it("holds for a good bundle with its checkpoint and entry", () => {
    expect(verifyProofBundle(parseProofBundle(bundle), { logKey })).toMatchObject({ ok: true });
  });

  it("fails, saying why, for a wrong entry, a checkpoint of another size and a forged proof", () => {
    const wrongEntry = verifyProofBundle(parseProofBundle({ ...bundle, entry: Buffer.from("x").toString("base64") }), { logKey });
    expect(wrongEntry.checks.find((c) => !c.ok)?.name).toBe("entry.leaf-hash");
    const other = signCheckpoint({ origin: log.name, size: 4, root: rootOf(leaves, 0, 4) }, log);
    expect(verifyProofBundle(parseProofBundle({ ...bundle, checkpoint: other }), { logKey }).checks.find((c) => !c.ok)?.detail).toMatch(/not the proof's size 5/);
    const forged = { ...bundle, proof: [leaves[0]!.toString("base64"), ...bundle.proof.slice(1)] };
    expect(verifyProofBundle(parseProofBundle(forged), { logKey }).checks.find((c) => !c.ok)?.name).toBe("proof.inclusion");
    expect(() => parseProofBundle({ ...bundle, proof: ["short"] })).toThrow();
  });
});

describe("tiles and frontier", () => {
  it("encodes tile paths as C2SP does", () => {
    expect(encodeTileIndex(1234067)).toBe("x001/x234/067");
    expect(encodeTileIndex(5)).toBe("005");
    expect(parseTilePath("0/x001/x234/067")).toEqual({ level: 0, index: 1234067, width: 256 });
    expect(parseTilePath("entries/005.p/7")).toEqual({ level: "entries", index: 5, width: 7 });
    expect(parseTilePath("1/5")).toBeNull();
    expect(parseTilePath("0/005.p/256")).toBeNull();
    expect(parseTilePath("64/000")).toBeNull();
    // The spec's example: a tree of 70,000 has partial tiles of width 112, 17, 1.
    expect([0, 1, 2].map((l) => partialWidth(l, 70_000))).toEqual([112, 17, 1]);
  });

  it("round-trips entry bundles and refuses truncated ones", () => {
    const entries = [Buffer.from("one"), Buffer.alloc(0), Buffer.from("three")];
    expect(decodeEntryBundle(encodeEntryBundle(entries))).toEqual(entries);
    expect(() => decodeEntryBundle(encodeEntryBundle(entries).subarray(0, 8))).toThrow(/ends inside/);
  });

  it("appends leaf by leaf to the same roots as the recursive definition", () => {
    const leaves = Array.from({ length: 300 }, (_, i) => leafHash(Buffer.from(String(i))));
    let f = emptyFrontier();
    for (let i = 0; i < leaves.length; i++) {
      f = appendLeaf(f, leaves[i]!);
      expect(frontierRoot(f).equals(rootOf(leaves, 0, i + 1))).toBe(true);
    }
    expect(f.hashes).toHaveLength(300 .toString(2).replace(/0/g, "").length);
  });
});
