import { createCipheriv, createHash, createPublicKey, diffieHellman, generateKeyPairSync, publicEncrypt, randomBytes, constants, type KeyObject } from "node:crypto";
import { PropellerError } from "../../protocol/errors.js";
import { messageOf } from "../../lib/errors.js";

/** The attested key cannot be used to wrap a resource. */
export class JweKeyError extends PropellerError {
  constructor(message: string) {
    super("kbs_tee_key", message);
  }
}

/** Flattened JWE in the member order stock Trustee clients get. */
export interface ResourceJwe {
  protected: string;
  encrypted_key: string;
  iv: string;
  ciphertext: string;
  tag: string;
}

const CURVES: Record<string, { node: string; bytes: number }> = {
  "P-256": { node: "prime256v1", bytes: 32 },
  "P-384": { node: "secp384r1", bytes: 48 },
  "P-521": { node: "secp521r1", bytes: 66 },
};

/**
 * Encrypts `plaintext` to the attested `tee-pubkey` as a flattened JWE (A256GCM; ECDH-ES+A256KW or
 * RSA-OAEP-256). Built here rather than by jose's FlattenedEncrypt because the stock guest
 * re-serialises the parsed protected header to compute the AAD: the header must be compact JSON with
 * `alg` then `enc` first and every other member (including the `epk` members) in sorted order, which
 * both an order-preserving and a sorting re-serialiser reproduce. node:crypto supplies primitives only.
 */
export function encryptToTeeKey(plaintext: Uint8Array, teeJwk: Record<string, unknown>): ResourceJwe {
  const kty = teeJwk.kty;
  const cek = randomBytes(32);
  try {
    let header: Record<string, unknown>;
    let encryptedKey: Buffer;
    if (kty === "EC") {
      const crv = String(teeJwk.crv);
      const curve = CURVES[crv];
      if (!curve) throw new JweKeyError(`tee-pubkey curve ${crv} is not supported (P-256, P-384, P-521)`);
      const recipient = importPublic(teeJwk, ["kty", "crv", "x", "y"]);
      const eph = generateKeyPairSync("ec", { namedCurve: curve.node });
      const z = diffieHellman({ privateKey: eph.privateKey, publicKey: recipient });
      const epk = eph.publicKey.export({ format: "jwk" });
      const alg = "ECDH-ES+A256KW";
      const kek = concatKdf(z, alg, 256);
      z.fill(0);
      const wrap = createCipheriv("id-aes256-wrap", kek, Buffer.from("A6A6A6A6A6A6A6A6", "hex"));
      encryptedKey = Buffer.concat([wrap.update(cek), wrap.final()]);
      kek.fill(0);
      header = { alg, enc: "A256GCM", epk: { crv, kty: "EC", x: epk.x, y: epk.y } };
    } else if (kty === "RSA") {
      const recipient = importPublic(teeJwk, ["kty", "n", "e"]);
      const bits = recipient.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < 2048) throw new JweKeyError(`tee-pubkey RSA modulus of ${bits} bits is too small (2048 or more)`);
      encryptedKey = publicEncrypt({ key: recipient, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, cek);
      header = { alg: "RSA-OAEP-256", enc: "A256GCM" };
    } else {
      throw new JweKeyError(`tee-pubkey kty ${String(kty)} is not supported (EC or RSA)`);
    }
    const protectedB64 = Buffer.from(protectedHeaderJson(header), "utf8").toString("base64url");
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", cek, iv);
    cipher.setAAD(Buffer.from(protectedB64, "ascii"));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return {
      protected: protectedB64,
      encrypted_key: encryptedKey.toString("base64url"),
      iv: iv.toString("base64url"),
      ciphertext: ciphertext.toString("base64url"),
      tag: cipher.getAuthTag().toString("base64url"),
    };
  } finally {
    cek.fill(0);
  }
}

/** Compact JSON: `alg`, `enc`, then the other members with all object keys sorted, recursively. */
export function protectedHeaderJson(header: Record<string, unknown>): string {
  const { alg, enc, ...rest } = header;
  const ordered: Record<string, unknown> = { alg, enc };
  for (const key of Object.keys(rest).sort()) ordered[key] = sortKeys(rest[key]);
  return JSON.stringify(ordered);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

function importPublic(jwk: Record<string, unknown>, members: string[]): KeyObject {
  const picked: Record<string, unknown> = {};
  for (const m of members) {
    if (typeof jwk[m] !== "string") throw new JweKeyError(`tee-pubkey lacks "${m}"`);
    picked[m] = jwk[m];
  }
  try {
    return createPublicKey({ key: picked as never, format: "jwk" });
  } catch (err) {
    throw new JweKeyError(`tee-pubkey is not a valid ${String(jwk.kty)} public key (${messageOf(err)})`);
  }
}

/** NIST SP 800-56A Concat KDF with SHA-256 as RFC 7518 §4.6.2 uses it (no apu/apv). */
function concatKdf(z: Buffer, algorithmId: string, keyBits: number): Buffer {
  const lengthPrefixed = (data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    return Buffer.concat([len, data]);
  };
  const suppPub = Buffer.alloc(4);
  suppPub.writeUInt32BE(keyBits);
  const otherInfo = Buffer.concat([lengthPrefixed(Buffer.from(algorithmId, "ascii")), lengthPrefixed(Buffer.alloc(0)), lengthPrefixed(Buffer.alloc(0)), suppPub]);
  const rounds = Math.ceil(keyBits / 256);
  const parts: Buffer[] = [];
  for (let i = 1; i <= rounds; i++) {
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(i);
    parts.push(createHash("sha256").update(counter).update(z).update(otherInfo).digest());
  }
  return Buffer.concat(parts).subarray(0, keyBits / 8);
}
