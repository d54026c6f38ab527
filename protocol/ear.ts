/**
 * The EAR (EAT Attestation Result) token profile every box reads: the KBS issues it, the agent and
 * the KBS's release step read it back, receipts embed it and anyone verifies it offline.
 */
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload } from "jose";

/** `eat_profile` of every EAR token (Veraison's EAR profile, as Trustee issues it). */
export const EAR_PROFILE = "tag:github.com,2023:veraison/ear";

/** What this KBS signs its tokens with (P-256 signing keys, see kbs/store). */
export const EAR_ISSUED_ALGORITHM = "ES256";

/**
 * What an offline verifier of a receipt accepts: this KBS's algorithm and those another
 * Trustee-compatible KBS may use. The KBS itself, reading back its own tokens, accepts only
 * EAR_ISSUED_ALGORITHM.
 */
export const EAR_ACCEPTED_ALGORITHMS: readonly string[] = [EAR_ISSUED_ALGORITHM, "ES384", "EdDSA"];

/** Who reads a token decides which algorithms it accepts; everything else about the check is shared. */
export interface EarTokenCheck {
  /** Default EAR_ACCEPTED_ALGORITHMS; the KBS reading back its own tokens passes [EAR_ISSUED_ALGORITHM]. */
  algorithms?: readonly string[];
  /** Judge validity at this time (a receipt's finish time); default now. */
  now?: Date;
  clockToleranceSeconds?: number;
  issuer?: string;
  audience?: string;
  /** Claims that must be present, e.g. ["exp", "iat", "submods"]. */
  requiredClaims?: readonly string[];
}

/**
 * The one EAR token signature and validity check: against a JWKS the caller trusts (never a key
 * from the token's own header), with an explicit algorithm list. Throws jose's errors unchanged, so
 * each caller words the refusal for its reader (an agent says "attest again", a receipt check
 * records which check failed).
 */
export async function verifyEarToken(token: string, jwks: JSONWebKeySet, check: EarTokenCheck = {}): Promise<{ payload: JWTPayload; kid: string | undefined }> {
  const result = await jwtVerify(token, createLocalJWKSet(jwks), {
    algorithms: [...(check.algorithms ?? EAR_ACCEPTED_ALGORITHMS)],
    clockTolerance: check.clockToleranceSeconds ?? 5,
    ...(check.requiredClaims ? { requiredClaims: [...check.requiredClaims] } : {}),
    ...(check.issuer ? { issuer: check.issuer } : {}),
    ...(check.audience ? { audience: check.audience } : {}),
    ...(check.now ? { currentDate: check.now } : {}),
  });
  return { payload: result.payload, kid: result.protectedHeader.kid };
}
