import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { exportJWK, type JWK } from "jose";
import { receiptSigner, type ReceiptSigner } from "../../protocol/receipt/index.js";

/**
 * The keys an attestation binds, generated in this process's memory and never written anywhere:
 * the key-wrapping key the KBS encrypts resources to (`tee-pubkey`, ECDH-ES+A256KW on P-256) and
 * the receipt-signing key (`receipt-pubkey`, ES256).
 */
export interface AttestedKeys {
  teePrivateKey: KeyObject;
  /** Exactly kty, crv, alg, x, y — what a stock Trustee KBS rebuilds and hashes. */
  teePublicJwk: { kty: "EC"; crv: "P-256"; alg: "ECDH-ES+A256KW"; x: string; y: string };
  receipt: ReceiptSigner;
}

export async function generateAttestedKeys(): Promise<AttestedKeys> {
  const tee = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const receiptPair = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const teeJwk: JWK = await exportJWK(tee.publicKey);
  return {
    teePrivateKey: tee.privateKey,
    teePublicJwk: { kty: "EC", crv: "P-256", alg: "ECDH-ES+A256KW", x: teeJwk.x!, y: teeJwk.y! },
    receipt: await receiptSigner(receiptPair.privateKey, receiptPair.publicKey),
  };
}
