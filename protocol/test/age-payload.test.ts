import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Decrypter, Encrypter, generateX25519Identity, identityToRecipient } from "age-encryption";
import { decryptWorkload } from "../index.js";

const CHUNK = 64 * 1024;
const SEALED = CHUNK + 16;

async function ageFile(plaintext: Uint8Array) {
  const identity = await generateX25519Identity();
  const e = new Encrypter();
  e.addRecipient(await identityToRecipient(identity));
  return { identity, ciphertext: Buffer.from(await e.encrypt(plaintext)) };
}

/** Where the sealed payload starts: after the MAC line and the 16-byte nonce. */
function payloadStart(file: Buffer): number {
  return file.indexOf(0x0a, file.indexOf("\n--- ") + 5) + 1 + 16;
}

describe("native age STREAM payload", () => {
  it("decrypts byte for byte what age-encryption decrypts, at every chunk edge", async () => {
    for (const size of [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 7]) {
      const plaintext = randomBytes(size);
      const { identity, ciphertext } = await ageFile(plaintext);
      const ours = Buffer.from(await decryptWorkload(ciphertext, Buffer.from(identity)));
      const d = new Decrypter();
      d.addIdentity(identity);
      expect(ours.equals(Buffer.from(await d.decrypt(ciphertext))), `size ${size}`).toBe(true);
      expect(ours.equals(plaintext), `size ${size}`).toBe(true);
    }
  });

  it("refuses a flipped bit in any chunk, a dropped final chunk, a partial chunk, an appended byte and a swapped chunk", async () => {
    const plaintext = randomBytes(3 * CHUNK + 100);
    const { identity, ciphertext } = await ageFile(plaintext);
    const key = Buffer.from(identity);
    const start = payloadStart(ciphertext);
    for (const chunk of [0, 1, 3]) {
      const t = Buffer.from(ciphertext);
      t[start + chunk * SEALED + 10]! ^= 1;
      await expect(decryptWorkload(t, key), `chunk ${chunk}`).rejects.toThrow(/does not decrypt/);
    }
    // Truncated at a chunk boundary: the new last chunk was sealed without the final flag.
    await expect(decryptWorkload(ciphertext.subarray(0, start + 3 * SEALED), key)).rejects.toThrow(/does not decrypt/);
    await expect(decryptWorkload(ciphertext.subarray(0, start + 3 * SEALED + 5), key)).rejects.toThrow(/partial chunk/);
    await expect(decryptWorkload(Buffer.concat([ciphertext, Buffer.from([0])]), key)).rejects.toThrow(/does not decrypt/);
    const swapped = Buffer.from(ciphertext);
    ciphertext.copy(swapped, start, start + SEALED, start + 2 * SEALED);
    ciphertext.copy(swapped, start + SEALED, start, start + SEALED);
    await expect(decryptWorkload(swapped, key)).rejects.toThrow(/does not decrypt/);
  });

  it("refuses a forged header MAC and another file's key before touching the payload", async () => {
    const { identity, ciphertext } = await ageFile(randomBytes(1000));
    const other = await ageFile(randomBytes(10));
    await expect(decryptWorkload(ciphertext, Buffer.from(other.identity))).rejects.toThrow(/does not decrypt/);
    const forged = Buffer.from(ciphertext);
    const mac = forged.indexOf("\n--- ") + 6;
    forged[mac] = forged[mac] === 0x41 ? 0x42 : 0x41;
    await expect(decryptWorkload(forged, Buffer.from(identity))).rejects.toThrow(/does not decrypt/);
  });
});
