/**
 * The attestation side of the one TEE table (protocol/tees.ts): per TEE, its verifier (loaded by
 * dynamic import, so a missing or broken one makes only its TEE unsupported), how a proplet
 * produces its evidence, and the claims its default appraisal policy treats as "no hardware
 * protection". Evidence kind, development-only and proplet matching come from the protocol table.
 */
import { TEES, TEE_TYPES, teeProfile, type TeeProfile, type TeeType } from "../protocol/index.js";

export interface VerifierRef {
  /** Imports the verifier's folder index (attestation/<tee>/index.ts). */
  load: () => Promise<Record<string, unknown>>;
  /** The class it exports: `new (options) => Verifier`. */
  exportName: string;
}

/** How a proplet makes evidence for the TEE (attestation/attesters/), null when none is written. */
export type AttesterKind = "sample" | "tpm2-tools" | "configfs-tsm" | null;

export interface AttestationTee extends TeeProfile {
  /** Null: no verifier written yet; the KBS answers UnsupportedTee. */
  readonly verifier: VerifierRef | null;
  readonly attester: AttesterKind;
  /** Claims that, when true, mean no hardware protection (defaultAttestationPolicy's unsafeClaims). */
  readonly unsafeClaims: readonly string[];
}

type Extra = Omit<AttestationTee, keyof TeeProfile>;
const NONE: Extra = { verifier: null, attester: null, unsafeClaims: [] };

const EXTRA: { readonly [T in TeeType]: Extra } = {
  sample: { verifier: { load: () => import("./sample/index.js"), exportName: "SampleVerifier" }, attester: "sample", unsafeClaims: [] },
  snp: { verifier: { load: () => import("./snp/index.js"), exportName: "SnpVerifier" }, attester: "configfs-tsm", unsafeClaims: [] },
  tdx: { verifier: { load: () => import("./tdx/index.js"), exportName: "TdxVerifier" }, attester: "configfs-tsm", unsafeClaims: [] },
  tpm: { verifier: { load: () => import("./tpm/index.js"), exportName: "TpmVerifier" }, attester: "tpm2-tools", unsafeClaims: ["/software_tpm"] },
  "az-snp-vtpm": { verifier: { load: () => import("./az-snp-vtpm/index.js"), exportName: "AzSnpVtpmVerifier" }, attester: null, unsafeClaims: [] },
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
