/** The task.start `artifact.location` for a task's artifact spec. */
import { LIMITS, type ArtifactLocation } from "../../protocol/index.js";
import type { TaskSpec } from "../tasks/model.js";

/** Chunk size of MQTT delivery, and of artifacts stored in chunks (one stored chunk = one message). */
export const DELIVERY_CHUNK_BYTES = LIMITS.artifactChunkBytes;

export function artifactLocation(spec: Pick<TaskSpec, "artifact">, inlineBytes: Buffer | null): ArtifactLocation {
  const a = spec.artifact;
  switch (a.location) {
    case "inline":
      return { kind: "inline", data: (inlineBytes ?? Buffer.alloc(0)).toString("base64") };
    case "http":
      return { kind: "http", url: a.url ?? "" };
    case "oci":
      return { kind: "oci", reference: a.reference ?? "" };
    case "mqtt": {
      const size = a.size ?? 0;
      return { kind: "mqtt", size, chunkSize: DELIVERY_CHUNK_BYTES, chunks: Math.ceil(size / DELIVERY_CHUNK_BYTES) };
    }
  }
}
