import { Decrypter, Encrypter, generateX25519Identity, identityToRecipient } from "age-encryption";
import { PropellerError } from "./errors.js";
import { sha256Digest, type Digest } from "./digest.js";
import { messageOf } from "../lib/errors.js";

/**
 * Encrypted workloads are age files (X25519 recipients), so the standard `age` tool can make and
 * open them. The identity (`AGE-SECRET-KEY-1…`) is the secret the KBS holds as a resource.
 */
export class WorkloadDecryptionError extends PropellerError {
  constructor(message: string) {
    super("decryption_failed", message);
  }
}

export interface EncryptedWorkload {
  ciphertext: Uint8Array;
  /** `AGE-SECRET-KEY-1…` — the only key that opens the ciphertext. */
  identity: string;
  recipient: string;
  plaintextDigest: Digest;
  ciphertextDigest: Digest;
}

/** Generates a fresh X25519 identity and encrypts `plaintext` to it. */
export async function encryptWorkload(plaintext: Uint8Array): Promise<EncryptedWorkload> {
  const identity = await generateX25519Identity();
  const recipient = await identityToRecipient(identity);
  const encrypter = new Encrypter();
  encrypter.addRecipient(recipient);
  const ciphertext = await encrypter.encrypt(plaintext);
  return { ciphertext, identity, recipient, plaintextDigest: sha256Digest(plaintext), ciphertextDigest: sha256Digest(ciphertext) };
}

/** True when `text` looks like an age X25519 identity (not a recipient, not anything else). */
export function isAgeIdentity(text: string): boolean {
  return /^AGE-SECRET-KEY-1[0-9A-Z]{58}$/.test(text.trim());
}

/**
 * Decrypts in memory. The identity arrives as bytes from the KBS; the caller zeroes its copy after.
 * Any failure (wrong key, tampered or truncated ciphertext, not an age file) is one typed error.
 */
export async function decryptWorkload(ciphertext: Uint8Array, identityBytes: Uint8Array): Promise<Uint8Array> {
  const identity = Buffer.from(identityBytes).toString("utf8").trim();
  if (!isAgeIdentity(identity)) {
    throw new WorkloadDecryptionError("the key released by the KBS is not an age X25519 identity (AGE-SECRET-KEY-1…)");
  }
  const decrypter = new Decrypter();
  decrypter.addIdentity(identity);
  try {
    return await decrypter.decrypt(ciphertext);
  } catch (err) {
    throw new WorkloadDecryptionError(`the workload does not decrypt with the released key: ${messageOf(err)}`);
  }
}
