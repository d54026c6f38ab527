import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { calculateJwkThumbprint, exportJWK, type JSONWebKeySet, type JWK } from "jose";
import type { EarSigningKey } from "../../attestation/ear/index.js";
import { KbsError } from "../errors.js";
import { messageOf } from "../../lib/errors.js";

/** The key source the KBS signs with and publishes: the database (default) or a folder of PEM files. */
export interface SigningKeySource {
  signingKey(): Promise<EarSigningKey>;
  jwks(maxAgeMs?: number): Promise<JSONWebKeySet>;
  rotate(): Promise<void>;
}

/**
 * Signing keys managed by the operator as files: every `*.pem` in the folder is an EC P-256
 * private key; the last by file name (e.g. `2026-11-22.pem`) signs, all are published. Rotating is
 * adding a newer file; removing an old one is the operator's call (after the token lifetime).
 * The folder is re-read every few seconds so every replica follows.
 */
export class SigningKeyFiles implements SigningKeySource {
  private cache: { keys: EarSigningKey[]; at: number } | undefined;

  constructor(private readonly dir: string, private readonly recheckMs = 10_000) {}

  async signingKey(): Promise<EarSigningKey> {
    const keys = await this.load(this.recheckMs);
    return keys[keys.length - 1]!;
  }

  async jwks(maxAgeMs = this.recheckMs): Promise<JSONWebKeySet> {
    return { keys: (await this.load(maxAgeMs)).map((k) => k.publicJwk).reverse() };
  }

  async rotate(): Promise<void> {
    throw new KbsError("InvalidRequest", `signing keys come from ${this.dir}: rotate by adding a newer PEM file there`);
  }

  private async load(maxAgeMs: number): Promise<EarSigningKey[]> {
    if (this.cache && Date.now() - this.cache.at < maxAgeMs) return this.cache.keys;
    const names = (await readdir(this.dir)).filter((n) => n.endsWith(".pem")).sort().slice(-32);
    const keys: EarSigningKey[] = [];
    for (const name of names) {
      let privateKey: KeyObject;
      try {
        privateKey = createPrivateKey(await readFile(join(this.dir, name)));
      } catch (err) {
        throw new Error(`signing key ${join(this.dir, name)} is not a PEM private key (${messageOf(err)})`);
      }
      if (privateKey.asymmetricKeyType !== "ec" || privateKey.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
        throw new Error(`signing key ${join(this.dir, name)} must be EC P-256 (ES256)`);
      }
      const jwk = await exportJWK(createPublicKey(privateKey));
      const kid = await calculateJwkThumbprint(jwk);
      const publicJwk: JWK = { kty: "EC", crv: "P-256", x: jwk.x!, y: jwk.y!, kid, alg: "ES256", use: "sig" };
      keys.push({ kid, privateKey, publicJwk });
    }
    if (keys.length === 0) throw new Error(`no signing key (*.pem, EC P-256) in ${this.dir}`);
    this.cache = { keys, at: Date.now() };
    return keys;
  }
}
