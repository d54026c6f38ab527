/**
 * What a lease does between `task.accepted` and its result: fetch the artifact, unseal it when
 * confidential, run it on the task's runtime.
 */
import type { Logger } from "pino";
import { performance } from "node:perf_hooks";
import { PropellerError, type ReceiptSigner, type TaskStart } from "../../protocol/index.js";
import { messageOf } from "../../lib/errors.js";
import { fetchArtifact, type ArtifactSources } from "../artifacts/index.js";
import type { Runtime, RunReport } from "../execute/index.js";
import { withUnsealed, type RunAttestation } from "../trust/confidential.js";
import type { ReceiptBasis } from "../trust/receipt.js";
import type { AttestationAgent } from "../../attestation/agent/index.js";
import { failedReport, stoppedReport } from "./results.js";
import type { PropletMetrics } from "../telemetry/metrics.js";
import { ATTR, SPAN } from "../../protocol/index.js";
import { failSpan, inSpan } from "../../lib/tracing/spans.js";
import { propletTracer } from "../telemetry/tracing.js";

export interface RunStartDeps {
  runtimes: Runtime[];
  sources: ArtifactSources;
  artifactMaxBytes: number;
  trust: { identity: ReceiptSigner; attestation: AttestationAgent | null };
  log: Logger;
  /** A daemon serves at this URL. */
  onEndpoint: (url: string) => void;
  /** Hears the guest's output as it is written (live task.log). */
  onOutput?: (stream: "stdout" | "stderr", data: Uint8Array) => void;
  metrics?: Pick<PropletMetrics, "artifactBytes" | "artifactFetchSeconds">;
}

/** Receipt basis of a run that ran nothing attested: signed by the identity key. */
export function unattestedBasis(m: TaskStart, identity: ReceiptSigner): ReceiptBasis {
  return m.confidential
    ? // Nothing was released: the receipt names what was asked (plaintext) and what was delivered.
      { signer: identity, plaintextDigest: m.confidential.plaintextDigest, ciphertextDigest: m.artifact.digest, attestation: null }
    : { signer: identity, plaintextDigest: m.artifact.digest, ciphertextDigest: null, attestation: null };
}

/**
 * Runs one accepted start to its report, and says who signs its receipt: each failure is answered
 * here, where it is seen, with the basis that holds at that point (nothing attested before the key
 * release; the attested key once the KBS released it, or attested then refused).
 */
export async function runStart(m: TaskStart, signal: AbortSignal, deps: RunStartDeps): Promise<{ report: RunReport; basis: ReceiptBasis }> {
  const basis = unattestedBasis(m, deps.trust.identity);
  let module: Uint8Array;
  try {
    const t0 = performance.now();
    module = await inSpan(propletTracer, SPAN.artifactFetch, { [ATTR.runId]: m.runId, [ATTR.artifactSource]: m.artifact.location.kind, [ATTR.artifactDigest]: m.artifact.digest }, async (span) => {
      const bytes = await fetchArtifact(m.artifact, deps.sources, { maxBytes: deps.artifactMaxBytes, signal });
      span.setAttribute(ATTR.artifactBytes, bytes.byteLength);
      return bytes;
    });
    deps.metrics?.artifactBytes.inc({ source: m.artifact.location.kind }, module.byteLength);
    deps.metrics?.artifactFetchSeconds.observe({ source: m.artifact.location.kind }, (performance.now() - t0) / 1000);
    deps.log.debug({ runId: m.runId, source: m.artifact.location.kind, bytes: module.byteLength, ms: Math.round((performance.now() - t0) * 10) / 10 }, "artifact fetched");
  } catch (err) {
    if (signal.aborted) return { report: stoppedReport(signal), basis };
    const e = err instanceof PropellerError ? err : new PropellerError("artifact_unreachable", messageOf(err));
    return { report: failedReport(e.code, e.message), basis };
  }
  const runtime = deps.runtimes.find((r) => r.kind === m.runtime)!;
  const run = (bytes: Uint8Array) =>
    inSpan(propletTracer, SPAN.wasmRun, { [ATTR.runId]: m.runId, [ATTR.runtime]: m.runtime }, async (span) => {
      const report = await runOnce(bytes);
      span.setAttribute(ATTR.outcome, report.outcome);
      if (report.error) failSpan(span, report.error.code);
      return report;
    });
  const runOnce = (bytes: Uint8Array) =>
    runtime.run({
      runId: m.runId,
      module: bytes,
      entrypoint: m.entrypoint,
      args: m.args,
      env: m.env,
      stdin: new Uint8Array(Buffer.from(m.stdin, "base64")),
      limits: m.limits,
      signal,
      ...(m.grants ? { grants: m.grants } : {}),
      // nothing derived from a confidential workload's plaintext may reach the disk
      secret: Boolean(m.confidential),
      onEndpoint: deps.onEndpoint,
      ...(deps.onOutput ? { onOutput: deps.onOutput } : {}),
    });
  if (!m.confidential) return { report: await run(module), basis };

  // Confidential: `module` is the ciphertext (its digest was checked above). The plaintext lives
  // in memory only and is zeroed once the run is over.
  const agent = deps.trust.attestation!; // neverFits() refused confidential starts without one
  const unsealed = await withUnsealed(agent, module, m.confidential, signal, run);
  const attested = (attestation: RunAttestation): ReceiptBasis => ({
    signer: agent.keys.receipt,
    plaintextDigest: m.confidential!.plaintextDigest,
    ciphertextDigest: m.artifact.digest,
    attestation,
  });
  if (!unsealed.ok) {
    if (!unsealed.error) return { report: stoppedReport(signal), basis };
    deps.log.warn({ runId: m.runId, code: unsealed.error.code, err: unsealed.error.message.slice(0, 500) }, "confidential workload not unsealed; nothing run");
    // Attested but refused (e.g. the resource policy): the attested key signs the failure.
    return { report: failedReport(unsealed.error.code, unsealed.error.message), basis: unsealed.attestation ? attested(unsealed.attestation) : basis };
  }
  // The key was released under attestation: whatever the outcome, the attested key signs.
  return { report: unsealed.value, basis: attested(unsealed.attestation) };
}
