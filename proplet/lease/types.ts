/** What the agent and the leases share: who signs receipts, and the proplet's counters. */
import type { AttestationAgent } from "../../attestation/agent/index.js";
import type { ReceiptSigner } from "../../protocol/index.js";

/** Who signs receipts: the in-memory identity key, and the attestation agent when a TEE is configured. */
export interface PropletTrust {
  identity: ReceiptSigner;
  /** One per proplet: it keeps a KBS client (and its token cache) per KBS URL. */
  attestation: AttestationAgent | null;
}

export interface PropletCounters {
  /** Messages dropped because they failed validation or named another proplet. */
  invalidMessages: number;
  /** Messages dropped as repeats (same messageId). */
  duplicateMessages: number;
  /** Starts not accepted because the proplet was full (the manager redelivers). */
  busyRefusals: number;
  runsStarted: number;
  resultsSent: number;
  /** Results evicted from the pending store before their ack (store full). */
  resultsDropped: number;
}
