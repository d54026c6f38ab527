import { errors, type JSONWebKeySet } from "jose";
import { PropellerError } from "../../protocol/errors.js";
import { EAR_ISSUED_ALGORITHM, verifyEarToken } from "../../protocol/ear.js";
import { attestedTeeKey, type EarClaims } from "./claims.js";
import { EAR_STATUSES } from "./trust-vector.js";
import { messageOf } from "../../lib/errors.js";

export class EarTokenError extends PropellerError {
  constructor(code: "ear_expired" | "ear_invalid", message: string) {
    super(code, message);
  }
}

export interface VerifyEarOptions {
  issuer?: string;
  audience?: string;
  /** Judge validity at this time (e.g. a receipt's finish time); default now. */
  now?: Date;
  clockToleranceSeconds?: number;
}

export interface VerifiedEar {
  claims: EarClaims;
  kid: string | undefined;
  teePubkey: Record<string, unknown>;
}

/**
 * Verifies an EAR token against a JWKS (never the key in its header), its validity window, and
 * its shape: a cpu0 submod with a known `ear.status` and an attested tee-pubkey.
 */
export async function verifyEar(token: string, jwks: JSONWebKeySet, options: VerifyEarOptions = {}): Promise<VerifiedEar> {
  let payload: unknown;
  let kid: string | undefined;
  try {
    ({ payload, kid } = await verifyEarToken(token, jwks, {
      algorithms: [EAR_ISSUED_ALGORITHM],
      requiredClaims: ["exp", "iat", "submods"],
      ...(options.clockToleranceSeconds !== undefined ? { clockToleranceSeconds: options.clockToleranceSeconds } : {}),
      ...(options.issuer ? { issuer: options.issuer } : {}),
      ...(options.audience ? { audience: options.audience } : {}),
      ...(options.now ? { now: options.now } : {}),
    }));
  } catch (err) {
    if (err instanceof errors.JWTExpired) throw new EarTokenError("ear_expired", "the EAR token has expired; attest again");
    throw new EarTokenError("ear_invalid", `the EAR token is not valid: ${messageOf(err)}`);
  }
  const claims = payload as EarClaims;
  const status = claims.submods?.cpu0?.["ear.status"];
  if (!EAR_STATUSES.includes(status)) throw new EarTokenError("ear_invalid", "the EAR token has no submods.cpu0 ear.status");
  const teePubkey = attestedTeeKey(claims);
  if (!teePubkey) throw new EarTokenError("ear_invalid", "the EAR token binds no tee-pubkey");
  return { claims, kid, teePubkey };
}
