import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { PropellerError } from "../../protocol/errors.js";

/** Envelope encryption failed to open: wrong master key, or a row was tampered with or moved. */
export class EnvelopeError extends PropellerError {
  constructor(message: string) {
    super("kbs_envelope", message);
  }
}

export interface Sealed {
  /** iv (12) || ciphertext || tag (16), under the per-item data key. */
  ciphertext: Buffer;
  /** iv (12) || wrapped data key (32) || tag (16), under the master key. */
  wrappedKey: Buffer;
  masterKeyId: string;
}

/**
 * Envelope encryption of secrets at rest: a fresh AES-256-GCM data key per item encrypts the bytes,
 * the master key wraps the data key. `context` (e.g. the resource path) is the AAD of both layers,
 * so a ciphertext copied under another name does not open.
 */
export class Envelope {
  readonly masterKeyId: string;
  private readonly masterKey: Buffer;

  constructor(masterKeyBase64: string) {
    const key = Buffer.from(masterKeyBase64, "base64");
    if (key.length !== 32) throw new EnvelopeError(`the master key must be 32 bytes, got ${key.length}`);
    this.masterKey = key;
    // An identifier that says which master key wrapped a row without revealing anything about it.
    this.masterKeyId = createHash("sha256").update("propeller-kbs-master-key-id\0").update(key).digest("hex").slice(0, 16);
  }

  seal(plaintext: Uint8Array, context: string): Sealed {
    const dataKey = randomBytes(32);
    try {
      return {
        ciphertext: gcmEncrypt(dataKey, plaintext, `propeller-kbs/data:${context}`),
        wrappedKey: gcmEncrypt(this.masterKey, dataKey, `propeller-kbs/key:${context}`),
        masterKeyId: this.masterKeyId,
      };
    } finally {
      dataKey.fill(0);
    }
  }

  open(sealed: Sealed, context: string): Buffer {
    if (sealed.masterKeyId !== this.masterKeyId) {
      throw new EnvelopeError(`"${context}" was sealed with master key ${sealed.masterKeyId}, this KBS has ${this.masterKeyId}`);
    }
    const dataKey = gcmDecrypt(this.masterKey, sealed.wrappedKey, `propeller-kbs/key:${context}`, context);
    try {
      return gcmDecrypt(dataKey, sealed.ciphertext, `propeller-kbs/data:${context}`, context);
    } finally {
      dataKey.fill(0);
    }
  }
}

function gcmEncrypt(key: Buffer, plaintext: Uint8Array, aad: string): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(Buffer.from(aad, "utf8"));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, ct, cipher.getAuthTag()]);
}

function gcmDecrypt(key: Buffer, sealed: Buffer, aad: string, context: string): Buffer {
  if (sealed.length < 28) throw new EnvelopeError(`sealed data for "${context}" is truncated`);
  const decipher = createDecipheriv("aes-256-gcm", key, sealed.subarray(0, 12));
  decipher.setAAD(Buffer.from(aad, "utf8"));
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()]);
  } catch {
    throw new EnvelopeError(`sealed data for "${context}" does not open: wrong master key, tampered, or moved`);
  }
}
