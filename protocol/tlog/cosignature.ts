/**
 * C2SP tlog-cosignature v1 (Ed25519, signature type 0x04): a witness states that, as of its
 * timestamp, the checkpoint is the largest consistent tree head it has seen for the log.
 *
 * Signature bytes = u64 big-endian POSIX timestamp ‖ 64-byte Ed25519 signature over
 *   "cosignature/v1\n" ‖ "time <timestamp>\n" ‖ the checkpoint's note text.
 * The key ID is SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)[:4] (note.ts, keyId).
 */

export const COSIGNATURE_HEADER = "cosignature/v1\n";
/** The spec bounds timestamps by 2^63 − 1; JavaScript numbers are exact to 2^53, ample for seconds. */
const MAX_TIMESTAMP = Number.MAX_SAFE_INTEGER;

export function cosignedMessage(text: string | Buffer, timestamp: number): Buffer {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0 || timestamp > MAX_TIMESTAMP) throw new RangeError(`cosignature timestamp ${timestamp} is out of range`);
  return Buffer.concat([Buffer.from(`${COSIGNATURE_HEADER}time ${timestamp}\n`, "utf8"), Buffer.from(text)]);
}

/** Splits timestamped_signature into its timestamp and Ed25519 signature (null when malformed). */
export function splitTimestampedSignature(bytes: Buffer): { timestamp: number; signature: Buffer } | null {
  if (bytes.length !== 8 + 64) return null;
  const ts = bytes.readBigUInt64BE(0);
  if (ts > BigInt(MAX_TIMESTAMP)) return null;
  return { timestamp: Number(ts), signature: bytes.subarray(8) };
}

export function timestampedSignature(timestamp: number, signature: Buffer): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt(timestamp));
  return Buffer.concat([out, signature]);
}
