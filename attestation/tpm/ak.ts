import { ConfigError } from "../../lib/config-error.js";
import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { EvidenceFormatError } from "../errors.js";
import { messageOf } from "../../lib/errors.js";

/** TPM verifier configuration that cannot be used (bad AK fingerprint or key file, bad EK roots). */
export class TpmConfigError extends ConfigError {
  constructor(message: string, details?: Record<string, unknown>) {
    super(message, { code: "tpm_config_invalid", ...(details ? { details } : {}) });
  }
}

/** Reads a base64 DER SubjectPublicKeyInfo (the evidence's `ak_public`). */
export function parseAkPublic(derBase64: string): KeyObject {
  try {
    const key = createPublicKey({ key: Buffer.from(derBase64, "base64"), format: "der", type: "spki" });
    if (key.asymmetricKeyType !== "rsa" && key.asymmetricKeyType !== "ec") {
      throw new Error(`key type ${key.asymmetricKeyType} is not an AK type (rsa, ec)`);
    }
    return key;
  } catch (err) {
    throw new EvidenceFormatError(`ak_public is not a usable SubjectPublicKeyInfo: ${messageOf(err)}`);
  }
}

/**
 * The AK fingerprint: SHA-256 of the key's DER SubjectPublicKeyInfo, lower-case hex. This is what
 * Trustee's TPM verifier hashes for its trusted-AK set. The DER is re-encoded from the parsed key
 * so two encodings of one key cannot have two fingerprints.
 */
export function akFingerprint(key: KeyObject | string | Uint8Array): string {
  let k: KeyObject;
  if (typeof key === "string") k = createPublicKey(key); // PEM
  else if (key instanceof Uint8Array) k = createPublicKey({ key: Buffer.from(key), format: "der", type: "spki" });
  else k = key;
  return createHash("sha256").update(k.export({ type: "spki", format: "der" })).digest("hex");
}

/** Accepts `ab12…` or `AB:12:…` (how `openssl dgst -c` prints); returns 64 lower-case hex digits. */
export function normalizeFingerprint(text: string): string {
  const hex = text.trim().replace(/:/g, "").toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new TpmConfigError(`"${text}" is not a SHA-256 AK fingerprint (64 hex digits)`);
  return hex;
}

/** Trustee's default bound on its trusted-AK directory. */
export const MAX_TRUSTED_AK_FILES = 100;

/**
 * Fingerprints of the PEM public keys (`*.pub`) in a directory, the layout of Trustee's
 * `trusted_ak_keys_dir`, so one directory can configure both. Bounded to `max` files.
 */
export function fingerprintsFromDir(dir: string, max = MAX_TRUSTED_AK_FILES): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (!name.endsWith(".pub")) continue;
    const path = join(dir, name);
    if (!statSync(path).isFile()) continue;
    if (out.length >= max) throw new TpmConfigError(`more than ${max} trusted AK files in ${dir}`);
    try {
      out.push(akFingerprint(readFileSync(path, "utf8")));
    } catch (err) {
      throw new TpmConfigError(`${path} is not a PEM public key: ${messageOf(err)}`);
    }
  }
  return out;
}
