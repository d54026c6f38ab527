/**
 * API key text, its parts and its hash. Format: `prop_<keyId>_<secret>`: keyId is 16 hex chars
 * (public: it names the key in lists and in `revoke`), secret is 32 random bytes in base64url.
 *
 * Only sha256(keyId, secret) is stored. A single fast hash is enough because the secret has 256
 * bits of entropy: there is nothing to guess, so a slow KDF would only hand attackers a cheap way
 * to burn the manager's CPU.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

const KEY_RE = /^prop_([A-Za-z0-9-]{12,64})_([A-Za-z0-9_-]{43})$/;
export const KEY_ID_PATTERN = "^[A-Za-z0-9-]{12,64}$";

export interface ParsedKey {
  keyId: string;
  secret: string;
}

/** A fresh key (text shown once to whoever asked for it). */
export function generateApiKey(): { key: string; keyId: string } {
  const keyId = randomBytes(8).toString("hex");
  const secret = randomBytes(32).toString("base64url");
  return { key: `prop_${keyId}_${secret}`, keyId };
}

/** The parts of a key, or null when `text` is not one (never throws: callers answer 401). */
export function parseApiKey(text: string): ParsedKey | null {
  const match = KEY_RE.exec(text);
  return match ? { keyId: match[1]!, secret: match[2]! } : null;
}

export function looksLikeApiKey(text: string): boolean {
  return text.startsWith("prop_");
}

/** Hex sha256 over the key id and the secret (the id binds the hash to its row). */
export function hashKey(parsed: ParsedKey): string {
  return createHash("sha256").update(`propeller-api-key-v1\0${parsed.keyId}\0${parsed.secret}`).digest("hex");
}

/** Constant-time comparison of a presented key against a stored hash. */
export function keyMatches(parsed: ParsedKey, storedHash: string): boolean {
  const presented = Buffer.from(hashKey(parsed), "hex");
  const stored = Buffer.from(storedHash, "hex");
  return stored.length === presented.length && timingSafeEqual(presented, stored);
}
