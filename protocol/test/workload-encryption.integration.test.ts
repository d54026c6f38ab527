import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { WorkloadDecryptionError, decryptWorkload, encryptWorkload, sha256Digest } from "../index.js";

const hasAge = existsSync("/usr/bin/age");
// Interop with the reference age tool (Debian's `age`): CI installs it, so it must run there.
const interop = hasAge || process.env.CI === "true" ? describe : describe.skip;

describe("workload encryption", () => {
  it("round-trips and reports both digests", async () => {
    const plaintext = randomBytes(100_000);
    const enc = await encryptWorkload(plaintext);
    expect(enc.plaintextDigest).toBe(sha256Digest(plaintext));
    expect(enc.ciphertextDigest).toBe(sha256Digest(enc.ciphertext));
    expect(Buffer.from(await decryptWorkload(enc.ciphertext, Buffer.from(enc.identity)))).toEqual(plaintext);
  });

  it("refuses a wrong key, a tampered or truncated ciphertext, and a key that is not an age identity", async () => {
    const enc = await encryptWorkload(Buffer.from("secret wasm"));
    const other = await encryptWorkload(Buffer.from("x"));
    await expect(decryptWorkload(enc.ciphertext, Buffer.from(other.identity))).rejects.toBeInstanceOf(WorkloadDecryptionError);
    const tampered = Buffer.from(enc.ciphertext);
    tampered[tampered.length - 5] = tampered[tampered.length - 5]! ^ 1;
    await expect(decryptWorkload(tampered, Buffer.from(enc.identity))).rejects.toThrow(/does not decrypt/);
    await expect(decryptWorkload(enc.ciphertext.slice(0, enc.ciphertext.length - 20), Buffer.from(enc.identity))).rejects.toBeInstanceOf(WorkloadDecryptionError);
    await expect(decryptWorkload(enc.ciphertext, Buffer.from("not a key"))).rejects.toThrow(/not an age X25519 identity/);
  });
});

interop("interop with the age tool", () => {
  it("age decrypts what we encrypt", async () => {
    const dir = await mkdtemp(join(tmpdir(), "age-"));
    const plaintext = randomBytes(5000);
    const enc = await encryptWorkload(plaintext);
    await writeFile(join(dir, "id.txt"), enc.identity + "\n", { mode: 0o600 });
    await writeFile(join(dir, "app.wasm.age"), enc.ciphertext);
    execFileSync("age", ["-d", "-i", join(dir, "id.txt"), "-o", join(dir, "out"), join(dir, "app.wasm.age")]);
    expect(await readFile(join(dir, "out"))).toEqual(plaintext);
  });

  it("we decrypt what age encrypts", async () => {
    const dir = await mkdtemp(join(tmpdir(), "age-"));
    execFileSync("age-keygen", ["-o", join(dir, "key.txt")], { stdio: "pipe" });
    const keyFile = await readFile(join(dir, "key.txt"), "utf8");
    const identity = keyFile.split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-1"))!;
    const recipient = /public key: (age1[0-9a-z]+)/.exec(keyFile)![1]!;
    // Chunk edges of age's 64 KiB STREAM: empty, short, exactly one chunk, one byte over, several.
    for (const size of [0, 7000, 65536, 65537, 200_000]) {
      const plaintext = randomBytes(size);
      await writeFile(join(dir, "in"), plaintext);
      execFileSync("age", ["-e", "-r", recipient, "-o", join(dir, "in.age"), join(dir, "in")]);
      const out = await decryptWorkload(await readFile(join(dir, "in.age")), Buffer.from(identity));
      expect(Buffer.from(out).equals(plaintext), `size ${size}`).toBe(true);
    }
  });
});
