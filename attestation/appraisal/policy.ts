import { Type, type Static } from "@sinclair/typebox";
import { JSON_POINTER_PATTERN } from "./json-pointer.js";
import { attestationTee } from "../tees.js";

const Pointer = Type.String({ pattern: JSON_POINTER_PATTERN, maxLength: 256 });

/**
 * How one TEE's verified claims are appraised (per TEE; the KBS stores one per TEE name).
 * Pointers are into the TEE's claims object.
 */
export const AttestationPolicySchema = Type.Object(
  {
    /** Goes into the token as `ear.appraisal-policy-id`. */
    id: Type.String({ pattern: "^[A-Za-z0-9._:/-]{1,128}$" }),
    /** No (valid) reference value for this TEE → executables "unrecognized" (warning). Default true. */
    requireReferenceValues: Type.Optional(Type.Boolean()),
    /** Claims that, when true, mean a debuggable TEE → configuration contraindicated. */
    debugClaims: Type.Optional(Type.Array(Pointer, { maxItems: 32 })),
    /** Claims that, when true, mean no hardware protection (e.g. a software TPM) → hardware warning. */
    unsafeClaims: Type.Optional(Type.Array(Pointer, { maxItems: 32 })),
    /** Minimum numeric values (TCB / SVN levels) → configuration contraindicated below. */
    minimums: Type.Optional(Type.Record(Pointer, Type.Integer({ minimum: 0 }), { additionalProperties: false })),
  },
  { additionalProperties: false },
);
export type AttestationPolicy = Static<typeof AttestationPolicySchema>;

/** Claim names the verifiers in this repository use for debug and for software-only roots. */
export const DEBUG_CLAIMS = ["/debug", "/policy/debug_allowed", "/td_attributes/debug", "/snp/policy/debug_allowed", "/debug_allowed", "/policy_debug_allowed"];

export function defaultAttestationPolicy(tee: string): AttestationPolicy {
  return {
    id: `propeller/default/${tee}`,
    requireReferenceValues: true,
    debugClaims: DEBUG_CLAIMS,
    unsafeClaims: [...(attestationTee(tee)?.unsafeClaims ?? [])],
    minimums: {},
  };
}
