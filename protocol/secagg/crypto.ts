/**
 * The primitives of SecAgg, all from node:crypto: X25519 key agreement, HKDF-SHA256 key
 * derivation bound to the round, ChaCha20 as the mask PRG, AES-256-GCM for the shares in transit.
 */
import { createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from "node:crypto";
import { SecAggError } from "./errors.js";

export interface X25519Pair {
  privateKey: KeyObject;
  /** The raw 32-byte public key, base64url. */
  publicKey: string;
}

export function generateX25519(): X25519Pair {
  const { privateKey, publicKey } = generateKeyPairSync("x25519");
  return { privateKey, publicKey: publicKey.export({ format: "jwk" }).x! };
}

/** The raw 32-byte private scalar (what is secret-shared). */
export function exportPrivate(key: KeyObject): Uint8Array {
  return new Uint8Array(Buffer.from(key.export({ format: "jwk" }).d!, "base64url"));
}

/** A private key rebuilt from shares, accepted only when it is the one behind `publicKey`. */
export function importPrivate(raw: Uint8Array, publicKey: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: { kty: "OKP", crv: "X25519", d: Buffer.from(raw).toString("base64url"), x: publicKey }, format: "jwk" });
  } catch {
    throw new SecAggError("secagg_reconstruction_failed", "the rebuilt mask key is not an X25519 key");
  }
  if (createPublicKey(key).export({ format: "jwk" }).x !== publicKey) throw new SecAggError("secagg_reconstruction_failed", "the rebuilt mask key does not match the public key its owner advertised");
  return key;
}

function publicKeyObject(raw: string): KeyObject {
  try {
    const key = createPublicKey({ key: { kty: "OKP", crv: "X25519", x: raw }, format: "jwk" });
    if (Buffer.from(raw, "base64url").length !== 32) throw new Error("length");
    return key;
  } catch {
    throw new SecAggError("secagg_bad_message", "an advertised key is not a 32-byte X25519 public key");
  }
}

/** A 32-byte key both ends derive from their X25519 agreement, for one purpose in one round. */
export function agree(privateKey: KeyObject, peerPublicKey: string, roundId: string, purpose: string, a: string, b: string): Buffer {
  const shared = diffieHellman({ privateKey, publicKey: publicKeyObject(peerPublicKey) });
  // Ids in order, so u→v and v→u derive the same key.
  const [lo, hi] = a < b ? [a, b] : [b, a];
  return Buffer.from(hkdfSync("sha256", shared, Buffer.from(roundId, "utf8"), Buffer.from(`propeller secagg ${purpose}\0${lo}\0${hi}`, "utf8"), 32));
}

/** `length` pseudo-random Uint32 lanes expanded from a 32-byte seed (ChaCha20 keystream). */
export function expandMask(seed: Uint8Array, length: number): Uint32Array {
  // A seed is used for one stream only (fresh per round and pair), so a zero nonce is safe.
  const cipher = createCipheriv("chacha20", seed, Buffer.alloc(16));
  const stream = cipher.update(Buffer.alloc(length * 4));
  const lanes = new Uint32Array(length);
  Buffer.from(lanes.buffer).set(stream);
  return lanes;
}

/** Seals `plaintext` under `key`, bound to `aad`: iv ‖ ciphertext ‖ tag, base64url. */
export function seal(key: Buffer, plaintext: Uint8Array, aad: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(Buffer.from(aad, "utf8"));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString("base64url");
}

export function open(key: Buffer, sealed: string, aad: string): Buffer {
  const bytes = Buffer.from(sealed, "base64url");
  if (bytes.length < 12 + 16) throw new SecAggError("secagg_bad_message", "a sealed share is too short");
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, bytes.subarray(0, 12));
    decipher.setAAD(Buffer.from(aad, "utf8"));
    decipher.setAuthTag(bytes.subarray(bytes.length - 16));
    return Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]);
  } catch {
    throw new SecAggError("secagg_bad_message", "a sealed share does not open: it was altered, or is for another round or participant");
  }
}
