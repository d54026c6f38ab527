/**
 * One named check and its outcome: the shape every verifier (attestation), the receipt verifier,
 * the manager's stored receipt check, the EAR appraisal annotation and the REST API share.
 */
import { Type, type Static } from "@sinclair/typebox";

export interface Check {
  /** Stable, dotted name, e.g. `snp.signature`, `receipt.signature`, `expect.nonce`. */
  name: string;
  ok: boolean;
  /** What was found, or why it failed, in words an operator understands. */
  detail?: string;
}

/** A check that always says what it found (receipt checks do). */
export type DetailedCheck = Required<Check>;

/** The JSON schema of a `DetailedCheck`, for API replies. */
export const DetailedCheckSchema = Type.Object({ name: Type.String(), ok: Type.Boolean(), detail: Type.String() });
export type DetailedCheckSchema = Static<typeof DetailedCheckSchema>;
