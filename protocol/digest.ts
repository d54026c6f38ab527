import { createHash } from "node:crypto";
import { DigestError } from "./errors.js";

/** A content digest as used on the wire: `sha256:` followed by 64 lower-case hex digits. */
export type Digest = `sha256:${string}`;

export const DIGEST_PATTERN = "^sha256:[0-9a-f]{64}$";
const DIGEST_RE = new RegExp(DIGEST_PATTERN);

export function isDigest(value: unknown): value is Digest {
  return typeof value === "string" && DIGEST_RE.test(value);
}

export function parseDigest(value: string): Digest {
  if (!isDigest(value)) {
    throw new DigestError("digest_malformed", `digest "${value.slice(0, 80)}" is not of the form sha256:<64 hex digits>`);
  }
  return value;
}

export function sha256Digest(data: Uint8Array | string): Digest {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/** Incremental digest, for content that is streamed. */
export function digestHasher(): { update(chunk: Uint8Array): void; digest(): Digest } {
  const hash = createHash("sha256");
  return {
    update: (chunk) => void hash.update(chunk),
    digest: () => `sha256:${hash.digest("hex")}`,
  };
}

/** Throws a DigestError unless `data` hashes to `expected`. */
export function verifyDigest(data: Uint8Array, expected: Digest, what = "content"): void {
  const actual = sha256Digest(data);
  if (actual !== expected) {
    throw new DigestError("digest_mismatch", `${what} digest mismatch: expected ${expected}, got ${actual}`, {
      expected,
      actual,
    });
  }
}
