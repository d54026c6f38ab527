import type { Logger } from "pino";
import { sha256Digest, type ConfidentialSpec } from "../../protocol/index.js";
import { PropellerError } from "../../protocol/errors.js";
import { teeSatisfies } from "../../protocol/tees.js";
import { decryptWorkload } from "../../protocol/workload-encryption.js";
import type { Attester } from "../attester.js";
import { KbsClient } from "./kbs-client.js";
import type { AttestedKeys } from "./keys.js";
import { BoundedMap } from "../../lib/bounded-map.js";
import { ATTR, SPAN } from "../../protocol/trace.js";
import { inSpan, tracer } from "../../lib/tracing/spans.js";

/** The attestation agent's spans (no-op when tracing is off). */
const agentTracer = tracer("attestation-agent");

export class PlaintextDigestError extends PropellerError {
  constructor(expected: string, actual: string) {
    super("plaintext_digest_mismatch", `the decrypted workload has digest ${actual}, but the task expects ${expected}; nothing was run`, { expected, actual });
  }
}

/**
 * The proplet's attestation agent: one KBS client per KBS URL (so each keeps its token cache),
 * all binding the same in-memory keys and the same attester.
 */
const HELD_TOKENS = new WeakMap<object, string>();

/**
 * The EAR token this proplet held when `unseal` failed with `err` (it had attested to that KBS),
 * or null: the failure was before or in attestation, so it cannot be attested.
 */
export function heldTokenOf(err: unknown): string | null {
  return typeof err === "object" && err !== null ? (HELD_TOKENS.get(err) ?? null) : null;
}

export class AttestationAgent {
  /** One client (and its cached token) per KBS; a proplet talks to few, 32 bounds a hostile task list. */
  private readonly clients = new BoundedMap<string, KbsClient>({ maxEntries: 32 });

  constructor(
    readonly attester: Attester,
    readonly keys: AttestedKeys,
    private readonly options: { propletId: string; logger?: Logger; timeoutMs?: number } ,
  ) {}

  get tee(): Attester["tee"] {
    return this.attester.tee;
  }

  client(kbsUrl: string): KbsClient {
    let client = this.clients.get(kbsUrl);
    if (!client) {
      client = new KbsClient({
        url: kbsUrl,
        attester: this.attester,
        keys: this.keys,
        extraRuntimeData: { "proplet-id": this.options.propletId },
        ...(this.options.timeoutMs ? { timeoutMs: this.options.timeoutMs } : {}),
        ...(this.options.logger ? { logger: this.options.logger } : {}),
      });
      this.clients.set(kbsUrl, client);
    }
    return client;
  }

  /**
   * Gets the workload key from the KBS (attesting if the cached token expired), decrypts the
   * ciphertext in memory, zeroes the key bytes, and checks the plaintext digest before returning.
   * Returns the plaintext and the EAR token the release was made under (for the receipt).
   */
  async unseal(ciphertext: Uint8Array, spec: ConfidentialSpec): Promise<{ plaintext: Uint8Array; earToken: string }> {
    if (!teeSatisfies(spec.tee, this.attester.tee)) {
      throw new PropellerError("tee_mismatch", `the task needs TEE ${spec.tee}, this proplet attests ${this.attester.tee}`);
    }
    const client = this.client(spec.kbsUrl);
    try {
      // Span attributes name the resource and the TEE, never the key.
      const identity = await inSpan(agentTracer, SPAN.keyRelease, { [ATTR.kbsResource]: spec.resource, [ATTR.tee]: this.attester.tee, [ATTR.tokenCached]: client.heldToken() !== null }, () =>
        client.getResource(spec.resource),
      );
      const plaintext = await inSpan(agentTracer, SPAN.decrypt, { [ATTR.artifactBytes]: ciphertext.byteLength }, async () => {
        let plain: Uint8Array;
        try {
          plain = await decryptWorkload(ciphertext, identity);
        } finally {
          identity.fill(0);
        }
        const actual = sha256Digest(plain);
        if (actual !== spec.plaintextDigest) {
          plain.fill(0);
          throw new PlaintextDigestError(spec.plaintextDigest, actual);
        }
        return plain;
      });
      const { token } = await client.attest();
      return { plaintext, earToken: token };
    } catch (err) {
      // Where the failure is seen: if this proplet holds a valid token of that KBS (it attested,
      // then e.g. the policy refused the resource), the failure can be signed by the attested key.
      const token = client.heldToken();
      if (token !== null && typeof err === "object" && err !== null) HELD_TOKENS.set(err, token);
      throw err;
    }
  }
}
