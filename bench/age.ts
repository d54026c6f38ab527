/**
 * Workload decryption speed: the product's path (age-encryption for the header, node:crypto's
 * ChaCha20-Poly1305 for the STREAM payload) and age-encryption alone (pure JS), against Node's
 * native ChaCha20-Poly1305 (OpenSSL) on the same buffer, as the floor, in the same run.
 *
 *   npm run bench -- age [--mb N] [--rounds R]
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { Decrypter } from "age-encryption";
import { decryptWorkload, encryptWorkload } from "../protocol/index.js";
import { fmt } from "./stats.js";

function nativeChaChaDecrypt(key: Buffer, ciphertext: Buffer, tags: Buffer[], chunk: number): number {
  // Same chunking as age's STREAM (64 KiB), so the comparison is like for like.
  let total = 0;
  for (let offset = 0, i = 0; offset < ciphertext.length; offset += chunk, i++) {
    const nonce = Buffer.alloc(12);
    nonce.writeUInt32BE(i, 7);
    const decipher = createDecipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
    decipher.setAuthTag(tags[i]!);
    total += decipher.update(ciphertext.subarray(offset, offset + chunk)).length;
    decipher.final();
  }
  return total;
}

export async function benchAge(args: string[]): Promise<void> {
  const mbIndex = args.indexOf("--mb");
  const mb = mbIndex >= 0 ? Number(args[mbIndex + 1]) : 16;
  const roundsIndex = args.indexOf("--rounds");
  const rounds = roundsIndex >= 0 ? Number(args[roundsIndex + 1]) : 3;
  const plaintext = randomBytes(mb * 1024 * 1024);

  const enc = await encryptWorkload(plaintext);
  const identity = Buffer.from(enc.identity);
  let productBest = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    const out = await decryptWorkload(enc.ciphertext, identity);
    productBest = Math.min(productBest, performance.now() - t0);
    if (!Buffer.from(out).equals(plaintext)) throw new Error("age round trip changed bytes");
  }
  let ageBest = Infinity;
  for (let r = 0; r < rounds; r++) {
    const decrypter = new Decrypter();
    decrypter.addIdentity(enc.identity);
    const t0 = performance.now();
    const out = await decrypter.decrypt(enc.ciphertext);
    ageBest = Math.min(ageBest, performance.now() - t0);
    if (out.length !== plaintext.length) throw new Error("age round trip lost bytes");
  }

  const key = randomBytes(32);
  const chunk = 64 * 1024;
  const parts: Buffer[] = [];
  const tags: Buffer[] = [];
  for (let offset = 0, i = 0; offset < plaintext.length; offset += chunk, i++) {
    const nonce = Buffer.alloc(12);
    nonce.writeUInt32BE(i, 7);
    const cipher = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
    parts.push(cipher.update(plaintext.subarray(offset, offset + chunk)));
    cipher.final();
    tags.push(cipher.getAuthTag());
  }
  const ciphertext = Buffer.concat(parts);
  let nativeBest = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    nativeChaChaDecrypt(key, ciphertext, tags, chunk);
    nativeBest = Math.min(nativeBest, performance.now() - t0);
  }
  const ageMBs = mb / (ageBest / 1000);
  const productMBs = mb / (productBest / 1000);
  const nativeMBs = mb / (nativeBest / 1000);
  console.log(`age: decrypt ${mb} MiB, best of ${rounds}`);
  console.log("implementation                         | MiB/s   | vs native");
  console.log(`decryptWorkload (native STREAM)        | ${fmt(productMBs).padStart(7)} | ${fmt(productMBs / nativeMBs, 3)}x  (goal >= 0.5x)`);
  console.log(`age-encryption alone (JS)              | ${fmt(ageMBs).padStart(7)} | ${fmt(ageMBs / nativeMBs, 3)}x`);
  console.log(`node:crypto chacha20-poly1305 (floor)  | ${fmt(nativeMBs).padStart(7)} | 1.000x`);
}
