import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from "node:crypto";
import { readFile } from "node:fs/promises";
import { Type, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { PropellerError } from "../../protocol/errors.js";
import { isValidPropletId } from "../../protocol/topics.js";

/**
 * Per-proplet username/password credentials, for proplets that cannot do mTLS (e.g. a
 * microcontroller without room for a client certificate). Only scrypt hashes are stored:
 * `scrypt$<log2 N>$<r>$<p>$<salt b64>$<hash b64>`.
 */
export class CredentialError extends PropellerError {
  constructor(message: string) {
    super("credentials_invalid", message);
  }
}

const DEFAULTS = { log2N: 15, r: 8, p: 1 };
const SALT_BYTES = 16;
const HASH_BYTES = 32;
/** Bounds on what we accept from a stored hash: an attacker-edited file must not cost unbounded memory. */
const MAX_LOG2N = 20;
const MAX_PASSWORD_BYTES = 1024;
const MIN_PASSWORD_CHARS = 16;

function scrypt(password: Buffer, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))));
}

function memFor(log2N: number, r: number): number {
  return 128 * r * (2 ** log2N) * 2 + 1024 * 1024;
}

/** A fresh random password (32 bytes, base64url): give it to one proplet, store only its hash. */
export function generatePassword(): string {
  return randomBytes(32).toString("base64url");
}

export async function hashPassword(password: string): Promise<string> {
  if (password.length < MIN_PASSWORD_CHARS) throw new CredentialError(`a broker password must have at least ${MIN_PASSWORD_CHARS} characters`);
  const pw = Buffer.from(password, "utf8");
  if (pw.byteLength > MAX_PASSWORD_BYTES) throw new CredentialError("password too long");
  const salt = randomBytes(SALT_BYTES);
  const { log2N, r, p } = DEFAULTS;
  const hash = await scrypt(pw, salt, HASH_BYTES, { N: 2 ** log2N, r, p, maxmem: memFor(log2N, r) });
  return `scrypt$${log2N}$${r}$${p}$${salt.toString("base64")}$${hash.toString("base64")}`;
}

interface Parsed {
  log2N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

function parseHash(encoded: string): Parsed | null {
  const m = /^scrypt\$(\d{1,2})\$(\d{1,2})\$(\d{1,2})\$([A-Za-z0-9+/=]{16,64})\$([A-Za-z0-9+/=]{16,128})$/.exec(encoded);
  if (!m) return null;
  const [log2N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (log2N < 10 || log2N > MAX_LOG2N || r < 1 || r > 32 || p < 1 || p > 4) return null;
  return { log2N, r, p, salt: Buffer.from(m[4]!, "base64"), hash: Buffer.from(m[5]!, "base64") };
}

/** Constant-time comparison against a stored hash. A malformed hash never verifies. */
export async function verifyPassword(password: string | Buffer, encoded: string): Promise<boolean> {
  const parsed = parseHash(encoded);
  const pw = typeof password === "string" ? Buffer.from(password, "utf8") : password;
  if (!parsed || pw.byteLength > MAX_PASSWORD_BYTES || parsed.hash.byteLength < 16) return false;
  const candidate = await scrypt(pw, parsed.salt, parsed.hash.byteLength, {
    N: 2 ** parsed.log2N,
    r: parsed.r,
    p: parsed.p,
    maxmem: memFor(parsed.log2N, parsed.r),
  });
  return timingSafeEqual(candidate, parsed.hash);
}

/** Proplet id → scrypt hash. */
export type CredentialStore = ReadonlyMap<string, string>;

const CredentialFile = Type.Record(Type.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$" }), Type.String({ maxLength: 256 }), { maxProperties: 100_000 });
export type CredentialFile = Static<typeof CredentialFile>;

/** Reads `{"<proplet id>": "scrypt$…"}`; refuses unknown shapes, bad ids and malformed hashes. */
export async function loadCredentials(path: string): Promise<CredentialStore> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, "utf8"));
  } catch {
    throw new CredentialError(`cannot read the credentials file ${path} as JSON`);
  }
  return credentialsFrom(json);
}

export function credentialsFrom(json: unknown): CredentialStore {
  if (!Value.Check(CredentialFile, json)) throw new CredentialError("the credentials file must map proplet ids to scrypt hashes");
  const store = new Map<string, string>();
  for (const [id, hash] of Object.entries(json)) {
    if (!isValidPropletId(id) || id === "manager") throw new CredentialError(`"${id}" cannot hold broker credentials`);
    if (!parseHash(hash)) throw new CredentialError(`the hash for "${id}" is not an scrypt hash this broker accepts`);
    store.set(id, hash);
  }
  return store;
}

/** A hash that never verifies, so unknown users cost the same scrypt time as known ones. */
export const DUMMY_HASH = `scrypt$${DEFAULTS.log2N}$${DEFAULTS.r}$${DEFAULTS.p}$${Buffer.alloc(SALT_BYTES).toString("base64")}$${Buffer.alloc(HASH_BYTES, 1).toString("base64")}`;
