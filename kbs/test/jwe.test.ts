import { describe, expect, it } from "vitest";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { exportJWK, flattenedDecrypt } from "jose";
import { encryptToTeeKey, JweKeyError, protectedHeaderJson } from "../crypto/jwe.js";

async function recipient(kind: "P-256" | "P-384" | "P-521" | "RSA") {
  const pair = kind === "RSA" ? generateKeyPairSync("rsa", { modulusLength: 2048 }) : generateKeyPairSync("ec", { namedCurve: { "P-256": "prime256v1", "P-384": "secp384r1", "P-521": "secp521r1" }[kind] });
  const jwk = await exportJWK(pair.publicKey);
  const publicJwk = kind === "RSA" ? { kty: "RSA", alg: "RSA-OAEP-256", n: jwk.n, e: jwk.e } : { kty: "EC", crv: kind, alg: "ECDH-ES+A256KW", x: jwk.x, y: jwk.y };
  return { privateKey: pair.privateKey, publicJwk: publicJwk as Record<string, unknown> };
}

describe("resource JWE", () => {
  for (const kind of ["P-256", "P-384", "P-521", "RSA"] as const) {
    it(`${kind}: flattened, members in order, alg then enc first, decrypts with jose`, async () => {
      const { privateKey, publicJwk } = await recipient(kind);
      const secret = randomBytes(100);
      const jwe = encryptToTeeKey(secret, publicJwk);
      expect(Object.keys(jwe)).toEqual(["protected", "encrypted_key", "iv", "ciphertext", "tag"]);
      for (const v of Object.values(jwe)) expect(v).toMatch(/^[A-Za-z0-9_-]+$/);
      const text = Buffer.from(jwe.protected, "base64url").toString();
      const header = JSON.parse(text);
      expect(Object.keys(header).slice(0, 2)).toEqual(["alg", "enc"]);
      // A stock guest re-serialises the parsed header (order-preserving, or alg/enc then sorted): both give the same text.
      expect(JSON.stringify(header)).toBe(text);
      expect(protectedHeaderJson(header)).toBe(text);
      if (kind !== "RSA") expect(Object.keys(header.epk)).toEqual(["crv", "kty", "x", "y"]);
      const { plaintext } = await flattenedDecrypt(jwe, privateKey);
      expect(Buffer.from(plaintext).equals(secret)).toBe(true);
    });
  }

  it("the protected header is the AAD: re-ordering it breaks decryption", async () => {
    const { privateKey, publicJwk } = await recipient("P-256");
    const jwe = encryptToTeeKey(Buffer.from("x"), publicJwk);
    const header = JSON.parse(Buffer.from(jwe.protected, "base64url").toString());
    const reordered = { enc: header.enc, alg: header.alg, epk: header.epk };
    await expect(flattenedDecrypt({ ...jwe, protected: Buffer.from(JSON.stringify(reordered)).toString("base64url") }, privateKey)).rejects.toThrow();
  });

  it("refuses keys it cannot safely encrypt to", async () => {
    const small = generateKeyPairSync("rsa", { modulusLength: 1024 });
    const jwk = await exportJWK(small.publicKey);
    expect(() => encryptToTeeKey(Buffer.from("x"), { kty: "RSA", n: jwk.n, e: jwk.e })).toThrow(JweKeyError);
    expect(() => encryptToTeeKey(Buffer.from("x"), { kty: "OKP", crv: "X25519", x: "AAAA" })).toThrow(/kty OKP/);
    expect(() => encryptToTeeKey(Buffer.from("x"), { kty: "EC", crv: "P-256", x: "AAAA", y: "BBBB" })).toThrow(JweKeyError);
    expect(() => encryptToTeeKey(Buffer.from("x"), { kty: "EC", crv: "secp256k1", x: "AAAA", y: "BBBB" })).toThrow(/curve/);
  });
});
