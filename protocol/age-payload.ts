/**
 * The payload of an age file (age-encryption.org/v1, "STREAM"), decrypted with node:crypto's
 * native ChaCha20-Poly1305 (OpenSSL) instead of age-encryption's pure-JS cipher: the same
 * construction, an order of magnitude faster on a large workload. The header (stanzas, file key
 * unwrap, header MAC) stays with age-encryption; only the bulk cipher moves.
 *
 * STREAM, per the age spec: payload key = HKDF-SHA256(file key, salt = 16-byte nonce,
 * info "payload"); the plaintext is cut into 64 KiB chunks, each sealed with ChaCha20-Poly1305
 * under the nonce (11-byte big-endian chunk counter ‖ last-chunk flag); only the final chunk has
 * the flag 0x01, so truncation at a chunk boundary fails; only an empty file has an empty chunk.
 */
import { createDecipheriv, hkdfSync } from "node:crypto";

const CHUNK = 64 * 1024;
const TAG = 16;
const SEALED_CHUNK = CHUNK + TAG;
export const AGE_PAYLOAD_NONCE_BYTES = 16;

export class AgePayloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AgePayloadError";
  }
}

/** The payload key of a file: HKDF-SHA256(fileKey, nonce, "payload"). */
export function agePayloadKey(fileKey: Uint8Array, nonce: Uint8Array): Buffer {
  if (nonce.byteLength !== AGE_PAYLOAD_NONCE_BYTES) throw new AgePayloadError(`the payload nonce is ${nonce.byteLength} bytes, not ${AGE_PAYLOAD_NONCE_BYTES}`);
  return Buffer.from(hkdfSync("sha256", fileKey, nonce, "payload", 32));
}

/** Plaintext of a sealed STREAM payload; AgePayloadError on any tampering, truncation or malformed size. */
export function decryptAgePayload(key: Uint8Array, sealed: Uint8Array): Buffer {
  if (sealed.byteLength < TAG) throw new AgePayloadError("the payload is shorter than one authentication tag");
  const chunks = Math.ceil(sealed.byteLength / SEALED_CHUNK);
  const lastSize = sealed.byteLength - (chunks - 1) * SEALED_CHUNK;
  if (lastSize < TAG) throw new AgePayloadError("the payload ends in a partial chunk");
  if (lastSize === TAG && chunks > 1) throw new AgePayloadError("the final chunk is empty");
  const plaintext = Buffer.allocUnsafe(sealed.byteLength - chunks * TAG);
  const nonce = Buffer.alloc(12);
  let written = 0;
  try {
    for (let i = 0; i < chunks; i++) {
      const start = i * SEALED_CHUNK;
      const end = i === chunks - 1 ? sealed.byteLength : start + SEALED_CHUNK;
      // Counter in bytes 0..10 (big-endian); 2^40 chunks is far beyond any bounded workload.
      nonce.writeUIntBE(i, 5, 6);
      nonce[11] = i === chunks - 1 ? 1 : 0;
      const decipher = createDecipheriv("chacha20-poly1305", key, nonce, { authTagLength: TAG });
      decipher.setAuthTag(sealed.subarray(end - TAG, end));
      written += decipher.update(sealed.subarray(start, end - TAG)).copy(plaintext, written);
      decipher.final();
    }
  } catch {
    plaintext.fill(0);
    throw new AgePayloadError("the payload does not authenticate (tampered, truncated or another key)");
  }
  return plaintext;
}
