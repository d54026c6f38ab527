/**
 * The attestation side of the one TEE table (protocol/tees.ts): per TEE, its verifier (loaded by
 * dynamic import, so a missing or broken one makes only its TEE unsupported), its own appraisal
 * rules, how a proplet produces its evidence, and the claims its default appraisal policy treats
 * as "no hardware protection". Evidence kind, development-only and proplet matching come from the
 * protocol table.
 */
import { TEES, TEE_TYPES, teeProfile, type TeeProfile, type TeeType } from "../protocol/index.js";
import type { TeeAppraisal } from "./appraisal/tee-appraisal.js";
import type { VerificationResult } from "./result.js";
import { appraiseSnpClaims, type SnpAppraisalPolicy } from "./snp/appraise.js";
import { validateSnpPolicy } from "./snp/config.js";
import type { SnpClaims } from "./snp/verify.js";
import { appraiseTdx, validateTdxPolicy, type TdxAppraisalPolicy } from "./tdx/appraise.js";
import type { TdxClaims } from "./tdx/verify-quote.js";

export interface VerifierRef {
  /** Imports the verifier's folder index (attestation/<tee>/index.ts). */
  load: () => Promise<Record<string, unknown>>;
  /** The class it exports: `new (options) => Verifier`. */
  exportName: string;
}

/** How a proplet makes evidence for the TEE (attestation/attesters/), null when none is written. */
export type AttesterKind = "sample" | "tpm2-tools" | "configfs-tsm" | "azure-vtpm" | null;

export interface AttestationTee extends TeeProfile {
  /** Null: no verifier written yet; the KBS answers UnsupportedTee. */
  readonly verifier: VerifierRef | null;
  /** Null: the TEE has no rules of its own; policy and reference values alone appraise it. */
  readonly policyRules: TeePolicyRules | null;
  readonly attester: AttesterKind;
  /** Claims that, when true, mean no hardware protection (defaultAttestationPolicy's unsafeClaims). */
  readonly unsafeClaims: readonly string[];
}

/**
 * A TEE's own rules over its verified claims (debug guests, VMPL, TCB status, …): the first part of
 * the appraisal stage (appraisal/tee-policy.ts), applied after the verifier and before the
 * policy and reference values. Pure functions: no bytes, no cryptography.
 */
export interface TeePolicyRules {
  /** Checks a configured policy (throws a ConfigError naming the problem), so a typo fails at start-up. */
  validate(raw: unknown): unknown;
  /** `policy` is what `validate` returned; `result` is this TEE's verifier's result. */
  appraise(result: VerificationResult, policy: unknown): TeeAppraisal;
}

// The casts below are safe: the appraisal stage hands each TEE's rules only its own verifier's
// result and a policy its own `validate` returned.
const SNP_RULES: TeePolicyRules = {
  validate: validateSnpPolicy,
  appraise: (result, policy) => appraiseSnpClaims(result.claims as unknown as SnpClaims, policy as SnpAppraisalPolicy),
};
/** Azure's HCL runs at VMPL 0, which the default SNP rules require; its SNP claims are under `snp`. */
const AZ_SNP_VTPM_RULES: TeePolicyRules = {
  validate: validateSnpPolicy,
  appraise: (result, policy) => appraiseSnpClaims((result.claims as { snp: SnpClaims }).snp, policy as SnpAppraisalPolicy),
};
/** TDX rates a platform's TCB status itself; a "warning" is carried to the token as `ear_status`. */
const TDX_RULES: TeePolicyRules = {
  validate: validateTdxPolicy,
  appraise: (result, policy) => {
    const appraisal = appraiseTdx(result as VerificationResult<TdxClaims>, policy as TdxAppraisalPolicy);
    return { ...appraisal, claims: { ear_status: appraisal.status } };
  },
};

type Extra = Omit<AttestationTee, keyof TeeProfile>;
const NONE: Extra = { verifier: null, policyRules: null, attester: null, unsafeClaims: [] };

const EXTRA: { readonly [T in TeeType]: Extra } = {
  sample: { verifier: { load: () => import("./sample/index.js"), exportName: "SampleVerifier" }, policyRules: null, attester: "sample", unsafeClaims: [] },
  snp: { verifier: { load: () => import("./snp/index.js"), exportName: "SnpVerifier" }, policyRules: SNP_RULES, attester: "configfs-tsm", unsafeClaims: [] },
  tdx: { verifier: { load: () => import("./tdx/index.js"), exportName: "TdxVerifier" }, policyRules: TDX_RULES, attester: "configfs-tsm", unsafeClaims: [] },
  tpm: { verifier: { load: () => import("./tpm/index.js"), exportName: "TpmVerifier" }, policyRules: null, attester: "tpm2-tools", unsafeClaims: ["/software_tpm"] },
  "az-snp-vtpm": {
    verifier: { load: () => import("./az-snp-vtpm/index.js"), exportName: "AzSnpVtpmVerifier" },
    policyRules: AZ_SNP_VTPM_RULES,
    attester: "azure-vtpm",
    unsafeClaims: [],
  },
  "az-tdx-vtpm": NONE,
  sgx: NONE,
  cca: NONE,
};

/** Every TEE with its attestation facts, in TEE_TYPES order. */
export const ATTESTATION_TEES: { readonly [T in TeeType]: AttestationTee } = Object.freeze(
  Object.fromEntries(TEE_TYPES.map((id) => [id, Object.freeze({ ...TEES[id], ...EXTRA[id] })])) as { [T in TeeType]: AttestationTee },
);

/** The attestation facts of `tee`, or undefined for a name the table does not know. */
export function attestationTee(tee: string): AttestationTee | undefined {
  return teeProfile(tee) ? ATTESTATION_TEES[tee as TeeType] : undefined;
}

/** TEEs with a verifier, in TEE_TYPES order. */
export function verifiableTees(): TeeType[] {
  return TEE_TYPES.filter((id) => ATTESTATION_TEES[id].verifier !== null);
}
