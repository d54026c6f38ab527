/**
 * One confidential run's key handling: unseal the ciphertext through the attestation agent, hand
 * the plaintext to `run`, zero the plaintext when `run` is over. The plaintext exists only in this
 * buffer (and whatever the runtime derives from it in memory); nothing here touches the disk.
 */
import type { AttestationAgent } from "../../attestation/agent/index.js";
import { PropellerError, type ConfidentialSpec, type TeeType } from "../../protocol/index.js";

export type Unsealed<T> =
  | { ok: true; value: T; attestation: { tee: TeeType; earToken: string } }
  /** Nothing ran: KbsError codes, plaintext_digest_mismatch, decryption_failed, tee_mismatch, attestation_failed. */
  | { ok: false; error: PropellerError }
  /** The run was stopped while the key was being fetched: nothing ran. */
  | { ok: false; error: null };

export async function withUnsealed<T>(
  agent: AttestationAgent,
  ciphertext: Uint8Array,
  spec: ConfidentialSpec,
  signal: AbortSignal,
  run: (plaintext: Uint8Array) => Promise<T>,
): Promise<Unsealed<T>> {
  let plaintext: Uint8Array;
  let earToken: string;
  try {
    ({ plaintext, earToken } = await agent.unseal(ciphertext, spec));
  } catch (err) {
    if (signal.aborted) return { ok: false, error: null };
    // Anything not typed by the agent comes from the attester (e.g. tpm2-tools failing).
    return { ok: false, error: err instanceof PropellerError ? err : new PropellerError("attestation_failed", `attesting to the KBS failed: ${(err as Error).message}`) };
  }
  try {
    if (signal.aborted) return { ok: false, error: null };
    return { ok: true, value: await run(plaintext), attestation: { tee: agent.tee, earToken } };
  } finally {
    plaintext.fill(0);
  }
}
