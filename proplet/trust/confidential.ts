/**
 * One confidential run's key handling: unseal the ciphertext through the attestation agent, hand
 * the plaintext to `run`, zero the plaintext when `run` is over. The plaintext exists only in this
 * buffer (and whatever the runtime derives from it in memory); nothing here touches the disk.
 */
import { heldTokenOf, type AttestationAgent } from "../../attestation/agent/index.js";
import { PropellerError, type ConfidentialSpec, type TeeType } from "../../protocol/index.js";
import { messageOf } from "../../lib/errors.js";

export interface RunAttestation {
  tee: TeeType;
  earToken: string;
}

export type Unsealed<T> =
  | { ok: true; value: T; attestation: RunAttestation }
  /**
   * Nothing ran: KbsClientError codes, plaintext_digest_mismatch, decryption_failed, tee_mismatch,
   * attestation_failed. `attestation` when this proplet holds a valid token of that KBS (it
   * attested, then e.g. the resource policy refused): the failure can still be signed by the
   * attested key, so the manager can check it like any confidential result.
   */
  | { ok: false; error: PropellerError; attestation: RunAttestation | null }
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
    const error = err instanceof PropellerError ? err : new PropellerError("attestation_failed", `attesting to the KBS failed: ${messageOf(err)}`);
    const token = AFTER_ATTESTATION.has(error.code) ? heldTokenOf(err) : null;
    return { ok: false, error, attestation: token !== null ? { tee: agent.tee, earToken: token } : null };
  }
  try {
    if (signal.aborted) return { ok: false, error: null };
    return { ok: true, value: await run(plaintext), attestation: { tee: agent.tee, earToken } };
  } finally {
    plaintext.fill(0);
  }
}

/**
 * Failures that come after a successful attestation: the agent hands back the token it held when
 * it saw the failure (heldTokenOf), so the failure receipt is attested without asking the KBS again.
 * A 403 that refused the attestation itself leaves no token: that failure stays unattested.
 */
const AFTER_ATTESTATION = new Set(["kbs_denied", "kbs_not_found", "kbs_rate_limited", "plaintext_digest_mismatch", "decryption_failed"]);

