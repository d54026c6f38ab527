/**
 * The EAR (EAT Attestation Result) token profile every box reads: the KBS issues it, the agent and
 * the KBS's release step read it back, receipts embed it and anyone verifies it offline.
 */

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
