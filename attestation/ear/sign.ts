import { SignJWT, type JWK } from "jose";
import type { KeyObject } from "node:crypto";
import type { EarClaims } from "./claims.js";
import { EAR_ISSUED_ALGORITHM } from "../../protocol/ear.js";

export interface EarSigningKey {
  kid: string;
  privateKey: KeyObject;
  /** Public JWK (with kid, alg, use) as published in the JWKS. */
  publicJwk: JWK;
}

/**
 * Signs EAR claims as a JWT (ES256). The header carries `kid` (look the key up in the JWKS) and,
 * as Trustee does, the public `jwk`; a verifier must trust the JWKS, never the header's key.
 */
export async function signEar(claims: EarClaims, key: EarSigningKey): Promise<string> {
  const { kty, crv, x, y } = key.publicJwk;
  return new SignJWT(claims as unknown as Record<string, unknown>)
    .setProtectedHeader({ alg: EAR_ISSUED_ALGORITHM, typ: "JWT", kid: key.kid, jwk: { kty: kty!, crv: crv!, x: x!, y: y! } })
    .sign(key.privateKey);
}
