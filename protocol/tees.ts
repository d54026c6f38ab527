/**
 * The one TEE table: per TEE, what its evidence is, whether this repository verifies it, whether
 * it is development-only (no hardware root of trust), and which TEE a proplet must attest to
 * satisfy a task that requires it. The KBS (which TEEs it may accept), attestation (appraisal's
 * development flag), the manager (placement), the proplet (which tasks it takes) and the CLI all
 * read it here instead of deciding for themselves.
 */
import { TEE_TYPES, type TeeType } from "./messages/common.js";

export interface TeeDescription {
  /** The evidence a proplet of this TEE presents. */
  evidence: string;
  /** attestation/ has a verifier for it (attestation/registry.ts loads it). */
  verified: boolean;
  /** No hardware root of trust: a KBS accepts it only in development mode, and its results say so. */
  developmentOnly: boolean;
  /**
   * The TEEs whose attesting proplet satisfies a task requiring this one. Today each TEE is
   * satisfied only by itself: a task names the evidence its KBS policy was written for.
   */
  satisfiedBy: readonly TeeType[];
}

export const TEES: Readonly<Record<TeeType, TeeDescription>> = {
  sample: { evidence: "unsigned JSON claims (development)", verified: true, developmentOnly: true, satisfiedBy: ["sample"] },
  snp: { evidence: "AMD SEV-SNP attestation report with its VCEK chain", verified: true, developmentOnly: false, satisfiedBy: ["snp"] },
  tdx: { evidence: "Intel TDX quote (v4/v5) with PCK chain and collateral", verified: true, developmentOnly: false, satisfiedBy: ["tdx"] },
  tpm: { evidence: "TPM 2.0 quote over PCRs, signed by an attestation key", verified: true, developmentOnly: false, satisfiedBy: ["tpm"] },
  "az-snp-vtpm": { evidence: "Azure SEV-SNP vTPM: HCL report, SNP report and vTPM quote", verified: true, developmentOnly: false, satisfiedBy: ["az-snp-vtpm"] },
  "az-tdx-vtpm": { evidence: "Azure TDX vTPM (no verifier yet)", verified: false, developmentOnly: false, satisfiedBy: ["az-tdx-vtpm"] },
  sgx: { evidence: "Intel SGX quote (no verifier yet)", verified: false, developmentOnly: false, satisfiedBy: ["sgx"] },
  cca: { evidence: "Arm CCA token (no verifier yet)", verified: false, developmentOnly: false, satisfiedBy: ["cca"] },
};

/** The TEEs this repository verifies, in table order. */
export const VERIFIED_TEES: readonly TeeType[] = TEE_TYPES.filter((t) => TEES[t].verified);

function describe(tee: string): TeeDescription | undefined {
  return Object.prototype.hasOwnProperty.call(TEES, tee) ? TEES[tee as TeeType] : undefined;
}

/** True for a TEE without a hardware root of trust (accepted only in development). Unknown names are not. */
export function isDevelopmentOnlyTee(tee: string): boolean {
  return describe(tee)?.developmentOnly === true;
}

/** Whether a proplet attesting `offered` may run a task that requires `required`. */
export function teeSatisfies(required: string, offered: string | null | undefined): boolean {
  if (offered === null || offered === undefined) return false;
  return describe(required)?.satisfiedBy.includes(offered as TeeType) === true;
}
