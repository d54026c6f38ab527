/**
 * The one TEE table: per TEE the KBS protocol names, what its evidence is and what it binds, whether
 * it is development-only, and which announced proplet TEEs satisfy a task that requires it. Pure
 * data, so the manager (placement), the KBS (sessions, report data, release) and the CLI read it
 * without depending on a verifier. attestation/tees.ts adds each TEE's verifier and default policy
 * to this table; nothing else decides these questions.
 */
import { TEE_TYPES, type TeeType } from "./messages/common.js";

/** What a TEE's `primary_evidence` is (Trustee's format for that TEE). */
export type EvidenceKind =
  | "sample-json"
  | "snp-report"
  | "tdx-quote"
  | "tpm-quote"
  | "az-snp-vtpm-hcl"
  | "az-tdx-vtpm-hcl"
  | "sgx-quote"
  | "cca-token";

export interface TeeProfile {
  readonly id: TeeType;
  readonly evidence: {
    readonly kind: EvidenceKind;
    /**
     * Length of the evidence's user-data field the runtime-data hash (SHA-384, 48 bytes) is fitted
     * to, zero-padded; `null`: the hash itself, as is (the TPM verifier fits it to the quote's
     * extraData, 32 bytes for our attester, 64 for guest-components'; the sample TEE's
     * `report_data` is the base64 of those 48 bytes; the vTPM TEEs bind through their TPM quote).
     */
    readonly reportDataLength: 64 | null;
  };
  /**
   * No hardware root of trust (anyone can write its evidence): a KBS accepts it only in explicit
   * development mode, and tokens for it are marked development.
   */
  readonly developmentOnly: boolean;
  /** The TEEs a proplet may announce (`capabilities.tee.type`) to run a task that requires this one. */
  readonly satisfiedBy: readonly TeeType[];
}

const tee = (id: TeeType, kind: EvidenceKind, reportDataLength: 64 | null, developmentOnly = false): TeeProfile =>
  Object.freeze({ id, evidence: Object.freeze({ kind, reportDataLength }), developmentOnly, satisfiedBy: Object.freeze([id]) });

/** Every TEE, in TEE_TYPES order. */
export const TEES: { readonly [T in TeeType]: TeeProfile } = Object.freeze({
  sample: tee("sample", "sample-json", null, true),
  snp: tee("snp", "snp-report", 64),
  tdx: tee("tdx", "tdx-quote", 64),
  tpm: tee("tpm", "tpm-quote", null),
  "az-snp-vtpm": tee("az-snp-vtpm", "az-snp-vtpm-hcl", null),
  "az-tdx-vtpm": tee("az-tdx-vtpm", "az-tdx-vtpm-hcl", null),
  sgx: tee("sgx", "sgx-quote", 64),
  cca: tee("cca", "cca-token", 64),
});

export function isTeeType(value: string): value is TeeType {
  return (TEE_TYPES as readonly string[]).includes(value);
}

/** The profile of `tee`, or undefined for a name the table does not know (caller input is any string). */
export function teeProfile(tee: string): TeeProfile | undefined {
  return isTeeType(tee) ? TEES[tee] : undefined;
}

/** True for a TEE accepted only in development mode (the sample TEE); false for unknown names. */
export function isDevelopmentOnlyTee(tee: string): boolean {
  return teeProfile(tee)?.developmentOnly === true;
}

/** Whether a proplet announcing `announced` (null: no TEE) may run a task that requires `required`. */
export function teeSatisfies(required: TeeType, announced: TeeType | null | undefined): boolean {
  return announced !== null && announced !== undefined && TEES[required].satisfiedBy.includes(announced);
}

/**
 * The bytes a verifier of `tee` must find in the evidence's user-data field for a runtime-data
 * `hash`: fitted (zero-padded or truncated) to the table's field length, or the hash as is.
 */
export function expectedReportData(tee: string, hash: Uint8Array): Buffer {
  const length = teeProfile(tee)?.evidence.reportDataLength ?? null;
  if (length === null) return Buffer.from(hash);
  const out = Buffer.alloc(length);
  Buffer.from(hash).copy(out, 0, 0, Math.min(length, hash.byteLength));
  return out;
}
