/**
 * The proplet's identity key: Ed25519, generated in memory at start and never written anywhere.
 * It signs the receipts of runs that are not attested (plain runs, and runs that failed before
 * anything was released); the manager learns its public half from `proplet.announce`.
 * A restarted proplet has a new identity: receipts name the key that signed them (`jwk` header).
 */
import { generateKeyPairSync } from "node:crypto";
import { receiptSigner, type ReceiptSigner } from "../../protocol/receipt/index.js";

export async function generateIdentityKey(): Promise<ReceiptSigner> {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return receiptSigner(privateKey, publicKey);
}
