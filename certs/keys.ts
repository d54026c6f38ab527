import { createPrivateKey, createPublicKey, webcrypto } from "node:crypto";
import { CertError } from "./errors.js";

type Curve = "P-256" | "P-384";

const NODE_CURVES: Record<string, Curve> = { prime256v1: "P-256", secp384r1: "P-384" };
const HASH_FOR: Record<Curve, "SHA-256" | "SHA-384"> = { "P-256": "SHA-256", "P-384": "SHA-384" };

export interface GeneratedKey {
  keys: webcrypto.CryptoKeyPair;
  /** PKCS#8 PEM of the private key: the only copy, written once with mode 0600. */
  privateKeyPem: string;
  curve: Curve;
}

/** A fresh ECDSA key pair; the private key is extractable only so that it can be written once. */
export async function generateEcKey(curve: Curve): Promise<GeneratedKey> {
  const keys = (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: curve }, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  const privateKeyPem = toPem("PRIVATE KEY", pkcs8);
  pkcs8.fill(0);
  return { keys, privateKeyPem, curve };
}

/** The signature algorithm that goes with a key on this curve. */
export function signingAlgorithm(curve: Curve): { name: "ECDSA"; hash: "SHA-256" | "SHA-384" } {
  return { name: "ECDSA", hash: HASH_FOR[curve] };
}

/** Imports a PEM EC private key as a non-extractable signing key, with the DER of its public key. */
export async function importSigningKey(pem: string): Promise<{ key: webcrypto.CryptoKey; curve: Curve; spki: Buffer }> {
  let keyObject;
  try {
    keyObject = createPrivateKey(pem);
  } catch {
    throw new CertError("ca_invalid", "the CA key file is not a readable PEM private key");
  }
  const curve = keyObject.asymmetricKeyType === "ec" ? NODE_CURVES[keyObject.asymmetricKeyDetails?.namedCurve ?? ""] : undefined;
  if (!curve) throw new CertError("ca_invalid", "the CA key must be an EC P-256 or P-384 key");
  const pkcs8 = keyObject.export({ format: "der", type: "pkcs8" });
  try {
    const key = await webcrypto.subtle.importKey("pkcs8", pkcs8, { name: "ECDSA", namedCurve: curve }, false, ["sign"]);
    const spki = createPublicKey(keyObject).export({ format: "der", type: "spki" });
    return { key, curve, spki };
  } finally {
    pkcs8.fill(0);
  }
}

export function toPem(label: string, der: Buffer): string {
  const b64 = der.toString("base64").replace(/(.{64})/g, "$1\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}
