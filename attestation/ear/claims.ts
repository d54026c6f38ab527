import type { JWK } from "jose";
import type { EarStatus, TrustVector } from "./trust-vector.js";

import { EAR_PROFILE } from "../../protocol/ear.js";
import type { Check } from "../../protocol/check.js";
export { EAR_PROFILE };

/** The evidence a verifier accepted, as it travels in the token (Trustee's passport-mode path). */
export interface AnnotatedEvidence {
  /** The TEE named at /auth. */
  tee: string;
  /** The runtime data object the client sent and the evidence is bound to (tee-pubkey, receipt-pubkey, …). */
  runtime_data_claims: Record<string, unknown>;
  init_data_claims?: Record<string, unknown>;
  /** The verifier's claims, keyed by TEE name (e.g. `snp: {...}`). */
  [tee: string]: unknown;
}

export interface EarSubmod {
  "ear.status": EarStatus;
  "ear.trustworthiness-vector": TrustVector;
  "ear.appraisal-policy-id": string;
  "ear.veraison.annotated-evidence": AnnotatedEvidence;
  /** Why the status is what it is: the failed or notable checks, in words (not part of EAR proper). */
  "propeller.appraisal"?: { checks: Check[]; development?: boolean };
}

export interface EarClaims {
  eat_profile: typeof EAR_PROFILE;
  iat: number;
  nbf: number;
  exp: number;
  iss: string;
  aud: string;
  jti: string;
  "ear.verifier-id": { developer: string; build: string };
  submods: { cpu0: EarSubmod };
  /** RFC 7800 proof-of-possession key: the attested tee-pubkey. */
  cnf: { jwk: JWK };
  /** Present and true when the token was issued in development mode (e.g. for the sample TEE). */
  "propeller.development"?: true;
}

export interface BuildEarInput {
  issuer: string;
  audience: string;
  lifetimeSeconds: number;
  jti: string;
  now?: Date;
  verifierId: { developer: string; build: string };
  status: EarStatus;
  trustVector: TrustVector;
  policyId: string;
  tee: string;
  teeClaims: Record<string, unknown>;
  runtimeData: Record<string, unknown>;
  initData?: Record<string, unknown> | undefined;
  checks?: Check[];
  development?: boolean;
}

/** The EAR claims set for one appraisal; the attested key is taken from the runtime data. */
export function buildEarClaims(input: BuildEarInput): EarClaims {
  const iat = Math.floor((input.now ?? new Date()).getTime() / 1000);
  const teePubkey = input.runtimeData["tee-pubkey"];
  if (!teePubkey || typeof teePubkey !== "object") throw new TypeError("runtime data has no tee-pubkey object");
  const annotated: AnnotatedEvidence = { tee: input.tee, [input.tee]: input.teeClaims, runtime_data_claims: input.runtimeData };
  if (input.initData) annotated.init_data_claims = input.initData;
  const submod: EarSubmod = {
    "ear.status": input.status,
    "ear.trustworthiness-vector": input.trustVector,
    "ear.appraisal-policy-id": input.policyId,
    "ear.veraison.annotated-evidence": annotated,
  };
  if (input.checks) submod["propeller.appraisal"] = { checks: input.checks, ...(input.development ? { development: true } : {}) };
  const claims: EarClaims = {
    eat_profile: EAR_PROFILE,
    iat,
    nbf: iat,
    exp: iat + input.lifetimeSeconds,
    iss: input.issuer,
    aud: input.audience,
    jti: input.jti,
    "ear.verifier-id": input.verifierId,
    submods: { cpu0: submod },
    cnf: { jwk: teePubkey as JWK },
  };
  if (input.development) claims["propeller.development"] = true;
  return claims;
}

/** The attested key at /submods/cpu0/ear.veraison.annotated-evidence/runtime_data_claims/tee-pubkey. */
export function attestedTeeKey(claims: EarClaims): Record<string, unknown> | undefined {
  const key = claims.submods?.cpu0?.["ear.veraison.annotated-evidence"]?.runtime_data_claims?.["tee-pubkey"];
  return key && typeof key === "object" ? (key as Record<string, unknown>) : undefined;
}
