import { Decrypter, Encrypter, generateX25519Identity, identityToRecipient } from "age-encryption";
import { PropellerError } from "./errors.js";
import { sha256Digest, type Digest } from "./digest.js";
import { messageOf } from "../lib/errors.js";
import { AGE_PAYLOAD_NONCE_BYTES, agePayloadKey, decryptAgePayload } from "./age-payload.js";

const AGE_MAGIC = Buffer.from("age-encryption.org/v1\n", "latin1");
const MAC_LINE = Buffer.from("\n--- ", "latin1");

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
    const split = splitAgeFile(ciphertext);
    // Anything that is not a plain binary age file (armor, say) takes age-encryption's whole path.
    if (!split) return await decrypter.decrypt(ciphertext);
    // age-encryption checks the header (stanzas, file key unwrap, MAC); the bulk cipher is native.
    const fileKey = await decrypter.decryptHeader(split.header);
    try {
      return decryptAgePayload(agePayloadKey(fileKey, split.nonce), split.payload);
    } finally {
      fileKey.fill(0);
    }
  } catch (err) {
    throw new WorkloadDecryptionError(`the workload does not decrypt with the released key: ${messageOf(err)}`);
  }
}

/** Header (through the MAC line), payload nonce and sealed payload of a binary age file; null if it is not one. */
function splitAgeFile(file: Uint8Array): { header: Uint8Array; nonce: Uint8Array; payload: Uint8Array } | null {
  const bytes = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  if (!bytes.subarray(0, AGE_MAGIC.length).equals(AGE_MAGIC)) return null;
  // Stanza lines start with "-> " or are base64, so the first "\n--- " opens the MAC line.
  const macLine = bytes.indexOf(MAC_LINE);
  if (macLine < 0) return null;
  const headerEnd = bytes.indexOf(0x0a, macLine + MAC_LINE.length);
  if (headerEnd < 0 || bytes.length < headerEnd + 1 + AGE_PAYLOAD_NONCE_BYTES) return null;
  const payloadStart = headerEnd + 1 + AGE_PAYLOAD_NONCE_BYTES;
  return { header: bytes.subarray(0, headerEnd + 1), nonce: bytes.subarray(headerEnd + 1, payloadStart), payload: bytes.subarray(payloadStart) };
}
