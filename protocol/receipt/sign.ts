import type { KeyObject } from "node:crypto";
import { CompactSign, exportJWK, type CryptoKey } from "jose";
import type { PublicJwk } from "../messages/proplet.js";
import { validate } from "../codec.js";
import { RECEIPT_TYP, ReceiptClaims, type ReceiptClaims as Claims } from "./claims.js";

export interface ReceiptSigner {
  alg: "ES256" | "EdDSA";
  privateKey: CryptoKey | KeyObject;
  /** The public key, embedded in the receipt header (`jwk`) so the receipt is self-describing. */
  publicJwk: PublicJwk;
}

/** Creates a signer from a node:crypto key pair (EC P-256 → ES256, Ed25519 → EdDSA). */
export async function receiptSigner(privateKey: KeyObject, publicKey: KeyObject): Promise<ReceiptSigner> {
  const type = publicKey.asymmetricKeyType;
  const alg = type === "ed25519" ? "EdDSA" : type === "ec" && publicKey.asymmetricKeyDetails?.namedCurve === "prime256v1" ? "ES256" : null;
  if (!alg) throw new Error(`receipt keys are Ed25519 or EC P-256, not ${type}`);
  const { crv, x, y } = await exportJWK(publicKey);
  const kty = alg === "EdDSA" ? "OKP" : "EC";
  const publicJwk: PublicJwk = y === undefined ? { kty, crv: crv!, x: x! } : { kty, crv: crv!, x: x!, y };
  return { alg, privateKey, publicJwk };
}

/** Signs receipt claims (validated first) as a compact JWS. */
export async function signReceipt(claims: Claims, signer: ReceiptSigner): Promise<string> {
  validate(ReceiptClaims, claims, "receipt claims");
  return new CompactSign(Buffer.from(JSON.stringify(claims), "utf8"))
    .setProtectedHeader({ alg: signer.alg, typ: RECEIPT_TYP, jwk: signer.publicJwk })
    .sign(signer.privateKey);
}
