import type { KeyObject } from "node:crypto";
import { errors, jwtVerify, decodeProtectedHeader } from "jose";
import { adminPublicKey, type AdminRole, type KbsConfig } from "../config.js";
import { KbsError } from "../errors.js";
import { messageOf } from "../../lib/errors.js";

export interface AdminPrincipal {
  keyId: string;
  subject: string | undefined;
  roles: AdminRole[];
  /** For audit rows: `admin:<key id>[/<sub>]`. */
  actor: string;
}

interface ConfiguredKey {
  id: string;
  key: KeyObject;
  alg: "EdDSA" | "ES256";
  roles: AdminRole[];
}

/**
 * Checks admin bearer JWTs against the configured admin public keys. No key configured: every
 * admin call is refused. Tokens must carry `exp` and `iat`, live no longer than the configured
 * maximum, and their roles are the key's roles (narrowed by a `roles` claim when present).
 */
export class AdminAuthenticator {
  private readonly keys: ConfiguredKey[];

  constructor(private readonly config: KbsConfig["admin"]) {
    this.keys = config.keys.map((k) => {
      const key = adminPublicKey(k.publicKey);
      return { id: k.id, key, alg: key.asymmetricKeyType === "ed25519" ? "EdDSA" : "ES256", roles: [...k.roles] };
    });
  }

  get enabled(): boolean {
    return this.keys.length > 0;
  }

  async authenticate(authorization: string | undefined, allowed: readonly AdminRole[]): Promise<AdminPrincipal> {
    if (!this.enabled) {
      throw new KbsError("AdminAuthDisabled", "the admin API is disabled: no admin public key is configured (admin.keys); every admin call is refused");
    }
    const match = authorization ? /^Bearer ([A-Za-z0-9_\-.]{10,8192})$/.exec(authorization) : null;
    if (!match) throw new KbsError("AdminTokenMissing", "admin calls need Authorization: Bearer <admin JWT>");
    const token = match[1]!;
    let kid: string | undefined;
    try {
      kid = decodeProtectedHeader(token).kid;
    } catch {
      throw new KbsError("AdminTokenInvalid", "the admin token is not a JWT");
    }
    const candidates = kid ? this.keys.filter((k) => k.id === kid) : this.keys;
    if (candidates.length === 0) throw new KbsError("AdminTokenInvalid", `no admin key "${kid}" is configured`);
    let lastError = "signature does not verify with any configured admin key";
    for (const candidate of candidates) {
      try {
        const { payload } = await jwtVerify(token, candidate.key, { algorithms: [candidate.alg], requiredClaims: ["exp", "iat"], clockTolerance: 5 });
        const lifetime = (payload.exp ?? 0) - (payload.iat ?? 0);
        if (lifetime > this.config.maxTokenLifetimeSeconds) {
          throw new KbsError("AdminTokenInvalid", `the admin token lives ${lifetime} s; at most ${this.config.maxTokenLifetimeSeconds} s is accepted`);
        }
        if (payload.iat !== undefined && payload.iat > Date.now() / 1000 + 60) throw new KbsError("AdminTokenInvalid", "the admin token is issued in the future");
        const claimed = Array.isArray(payload.roles) ? (payload.roles as unknown[]).filter((r): r is AdminRole => typeof r === "string") : undefined;
        const roles = claimed ? candidate.roles.filter((r) => claimed.includes(r)) : candidate.roles;
        const subject = typeof payload.sub === "string" ? payload.sub.slice(0, 128) : undefined;
        const principal: AdminPrincipal = { keyId: candidate.id, subject, roles, actor: `admin:${candidate.id}${subject ? `/${subject}` : ""}` };
        if (!roles.some((r) => allowed.includes(r))) {
          throw Object.assign(new KbsError("AdminForbidden", `this action needs one of the roles ${allowed.join(", ")}; the token has ${roles.join(", ") || "none"}`), { principal });
        }
        return principal;
      } catch (err) {
        if (err instanceof KbsError) throw err;
        if (err instanceof errors.JWTExpired) throw new KbsError("AdminTokenInvalid", "the admin token has expired; mint a new one");
        lastError = messageOf(err);
      }
    }
    throw new KbsError("AdminTokenInvalid", `the admin token is not valid: ${lastError}`);
  }
}
