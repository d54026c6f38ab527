import { createPrivateKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { calculateJwkThumbprint, exportJWK, type JSONWebKeySet, type JWK } from "jose";
import type { Database } from "../../db/index.js";
import type { EarSigningKey } from "../../attestation/ear/index.js";
import type { Envelope } from "../crypto/envelope.js";
import type { SigningKeySource } from "./signing-key-files.js";

interface KeyRow {
  kid: string;
  public_jwk: JWK | string;
  private_wrapped: Uint8Array;
  master_key_id: string;
  sign_until: Date;
}

/**
 * EAR signing keys in the database, shared by every KBS replica. The newest key whose signing
 * period has not ended signs; when none is left one replica (under an advisory lock) creates the
 * next. A key stays in the JWKS until every token it may have signed has expired.
 */
export class SigningKeyStore implements SigningKeySource {
  private current: { key: EarSigningKey; signUntil: number; checkedAt: number } | undefined;
  private jwksCache: { jwks: JSONWebKeySet; at: number } | undefined;

  constructor(
    private readonly db: Database,
    private readonly envelope: Envelope,
    private readonly rotationSeconds: number,
    private readonly tokenLifetimeSeconds: number,
    /** How long the current key is used before the database is asked again. */
    private readonly recheckMs = 10_000,
  ) {}

  /** The key to sign with now. */
  async signingKey(): Promise<EarSigningKey> {
    // Re-read every few seconds: another replica may have rotated (ending our key's period early).
    if (this.current && this.current.signUntil > Date.now() + 1000 && Date.now() - this.current.checkedAt < this.recheckMs) return this.current.key;
    const row = await this.db.transaction(async (tx) => {
      await tx.query("SELECT pg_advisory_xact_lock(hashtext('propeller-kbs-signing-key'))");
      const found = await tx.query<KeyRow>(
        "SELECT kid, public_jwk, private_wrapped, master_key_id, sign_until FROM kbs_signing_keys WHERE sign_until > now() + interval '1 second' ORDER BY created_at DESC LIMIT 1",
      );
      if (found.rows[0]) return found.rows[0];
      const pair = generateKeyPairSync("ec", { namedCurve: "P-256" });
      const jwk = await exportJWK(pair.publicKey);
      const kid = await calculateJwkThumbprint(jwk);
      const publicJwk: JWK = { kty: jwk.kty!, crv: jwk.crv!, x: jwk.x!, y: jwk.y!, kid, alg: "ES256", use: "sig" };
      const sealed = this.envelope.seal(pair.privateKey.export({ format: "der", type: "pkcs8" }), `signing-key:${kid}`);
      const inserted = await tx.query<KeyRow>(
        `INSERT INTO kbs_signing_keys (kid, alg, public_jwk, private_wrapped, master_key_id, sign_until, publish_until)
         VALUES ($1, 'ES256', $2, $3, $4, now() + make_interval(secs => $5), now() + make_interval(secs => $6))
         RETURNING kid, public_jwk, private_wrapped, master_key_id, sign_until`,
        [kid, JSON.stringify(publicJwk), Buffer.concat([sealed.wrappedKey, sealed.ciphertext]), sealed.masterKeyId, this.rotationSeconds, this.rotationSeconds + this.tokenLifetimeSeconds + 60],
      );
      this.jwksCache = undefined;
      return inserted.rows[0]!;
    });
    const key = this.current?.key.kid === row.kid ? this.current.key : this.unwrap(row);
    this.current = { key, signUntil: new Date(row.sign_until).getTime(), checkedAt: Date.now() };
    return key;
  }

  /**
   * Ends the signing period of every current key now (they stay published until their tokens
   * expire); the next signature creates a new key.
   */
  async rotate(): Promise<void> {
    await this.db.query(
      `UPDATE kbs_signing_keys SET sign_until = now(),
         publish_until = GREATEST(publish_until, now() + make_interval(secs => $1)) WHERE sign_until > now()`,
      [this.tokenLifetimeSeconds + 60],
    );
    this.current = undefined;
    this.jwksCache = undefined;
  }

  /** Public keys that may verify an unexpired token. Cached for a few seconds (replicas rotate too). */
  async jwks(maxAgeMs = 5000): Promise<JSONWebKeySet> {
    if (this.jwksCache && Date.now() - this.jwksCache.at < maxAgeMs) return this.jwksCache.jwks;
    const r = await this.db.query<{ public_jwk: JWK | string }>(
      "SELECT public_jwk FROM kbs_signing_keys WHERE publish_until > now() ORDER BY created_at DESC LIMIT 100",
    );
    const jwks = { keys: r.rows.map((row) => (typeof row.public_jwk === "string" ? (JSON.parse(row.public_jwk) as JWK) : row.public_jwk)) };
    this.jwksCache = { jwks, at: Date.now() };
    return jwks;
  }

  private unwrap(row: KeyRow): EarSigningKey {
    const blob = Buffer.from(row.private_wrapped);
    const wrappedKey = blob.subarray(0, 60);
    const ciphertext = blob.subarray(60);
    const der = this.envelope.open({ wrappedKey, ciphertext, masterKeyId: row.master_key_id }, `signing-key:${row.kid}`);
    const privateKey: KeyObject = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
    der.fill(0);
    const publicJwk = typeof row.public_jwk === "string" ? (JSON.parse(row.public_jwk) as JWK) : row.public_jwk;
    return { kid: row.kid, privateKey, publicJwk };
  }
}
