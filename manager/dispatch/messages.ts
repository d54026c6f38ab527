/** Builds the manager → proplet messages (all through the protocol codec, so all are validated). */
import { encodeTopicMessage } from "../../protocol/index.js";
import { runEnv, type RunRecord, type TaskSpec } from "../tasks/model.js";
import { artifactLocation } from "../delivery/location.js";

/** task.start for one delivery of a run; the run id and receipt nonce are the same on every delivery. */
export function startMessage(
  propletId: string,
  taskId: string,
  spec: TaskSpec,
  run: Pick<RunRecord, "id" | "attempt" | "receiptNonce">,
  artifactBytes: Buffer | null,
): Buffer {
  const location = artifactLocation(spec, artifactBytes);
  return encodeTopicMessage("tasks/start", {
    kind: "task.start",
    propletId,
    taskId,
    runId: run.id,
    attempt: Math.min(run.attempt, 1000),
    runtime: spec.runtime,
    artifact: { digest: spec.artifact.digest, ...(spec.artifact.size !== null ? { size: spec.artifact.size } : {}), location },
    entrypoint: spec.entrypoint,
    args: spec.args,
    env: runEnv(spec),
    stdin: spec.stdin,
    limits: spec.limits,
    receiptNonce: run.receiptNonce,
    ...(spec.confidential ? { confidential: spec.confidential } : {}),
    ...(spec.grants ? { grants: spec.grants } : {}),
    ...(spec.holdOutput ? { holdOutput: spec.holdOutput } : {}),
  });
}

/**
 * Encodes the task.start a run of `spec` would get (ids of the same shape as a real run's), so a
 * task that could never be sent is refused when it is created: the codec's size and schema checks
 * are the ones dispatch meets. Returns the encoded size in bytes.
 */
export function measureStartMessage(spec: TaskSpec, artifactBytes: Buffer | null): number {
  return startMessage("size-check", "size-check", spec, { id: "size-check", attempt: 1, receiptNonce: "A".repeat(43) }, artifactBytes).byteLength;
}

export function stopMessage(propletId: string, taskId: string, runId: string, reason: string): Buffer {
  return encodeTopicMessage("tasks/stop", { kind: "task.stop", propletId, taskId, runId, reason: reason.slice(0, 512) });
}

export function resultAckMessage(propletId: string, taskId: string, runId: string): Buffer {
  return encodeTopicMessage("tasks/result-ack", { kind: "task.result-ack", propletId, taskId, runId });
}

export function reannounceMessage(propletId: string): Buffer {
  return encodeTopicMessage("control", { kind: "proplet.control", propletId, action: "reannounce" });
}
