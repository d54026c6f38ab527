/**
 * Artifact delivery, as the rest of the manager sees it: one seam. Tasks hand it the artifact a
 * request names and get back what to store; they keep, replace and release artifacts through it
 * inside their own transaction; they never reach into the delivery paths (inline, http, OCI,
 * chunked MQTT) themselves.
 */
import type { SqlExecutor } from "../../db/index.js";
import { PropellerError } from "../../protocol/index.js";
import { messageOf } from "../../lib/errors.js";
import { InvalidRequestError } from "../errors.js";
import { measureStartMessage } from "../dispatch/messages.js";
import * as artifactStore from "../store/artifacts.js";
import type { TaskSpec } from "../tasks/model.js";
import { createArtifactResolver, type TaskArtifactInput } from "./artifact-input.js";
import type { CheckedArtifact } from "./check-artifact.js";
import type { DeliveryConfig } from "./config.js";

export type { CheckedArtifact } from "./check-artifact.js";
export type { TaskArtifactInput } from "./artifact-input.js";
export { checkArtifact, type ArtifactInput } from "./check-artifact.js";

export interface ArtifactDelivery {
  /** Checks and resolves a request's artifact (inline bytes against their digest, URLs, OCI pinning, uploaded bytes). */
  accept(db: SqlExecutor, input: TaskArtifactInput): Promise<CheckedArtifact>;
  /**
   * Refuses (400) a task whose task.start would not fit in one message, now rather than at
   * dispatch. `artifact` is the one just accepted, if any; otherwise the stored size stands in.
   */
  checkFitsOneStart(spec: TaskSpec, artifact: CheckedArtifact | undefined): void;
  /** Stores what the manager must hold to deliver an accepted artifact (inline bytes, by digest). */
  keep(tx: SqlExecutor, artifact: CheckedArtifact): Promise<void>;
  /** Drops an artifact no task refers to any more (after a task changed or lost it). */
  release(tx: SqlExecutor, digest: string): Promise<void>;
}

export function createArtifactDelivery(config: DeliveryConfig): ArtifactDelivery {
  const resolver = createArtifactResolver(config);
  return {
    accept: (db, input) => resolver.resolve(db, input),
    checkFitsOneStart,
    async keep(tx, artifact) {
      if (artifact.bytes) await artifactStore.putArtifact(tx, artifact.spec.digest, artifact.bytes);
    },
    release: (tx, digest) => artifactStore.dropArtifactIfUnused(tx, digest),
  };
}

function checkFitsOneStart(spec: TaskSpec, artifact: CheckedArtifact | undefined): void {
  const bytes = spec.artifact.location === "inline" ? (artifact?.bytes ?? Buffer.alloc(spec.artifact.size ?? 0)) : null;
  try {
    measureStartMessage(spec, bytes);
  } catch (err) {
    if (err instanceof PropellerError && err.code === "too_large") {
      throw new InvalidRequestError("too_large", `the task does not fit in one task.start message: ${err.message}`);
    }
    throw new InvalidRequestError("invalid_task", `the task cannot be turned into a valid task.start: ${messageOf(err)}`);
  }
}
