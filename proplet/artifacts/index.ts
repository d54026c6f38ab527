/**
 * Obtains a task's artifact from whichever source its location names, bounded in size, and checks
 * its digest before anything else sees the bytes (wire rule 4).
 */
import type { ArtifactRef, ArtifactSourceKind } from "../../protocol/index.js";
import { verifyDigest } from "../../protocol/index.js";
import { ArtifactError } from "../errors.js";
import type { ArtifactSource, FetchOptions } from "./source.js";

export type { ArtifactSource, FetchOptions } from "./source.js";
export { inlineSource } from "./inline.js";
export { httpSource, type HttpSourceOptions } from "./http.js";
export { unsupportedSource } from "./unsupported.js";
export { mqttSource, type MqttSource, type MqttSourceOptions, type ChunkTransport } from "./mqtt.js";
export { ociSource, type OciSource, type OciSourceOptions } from "./oci.js";

export type ArtifactSources = { [K in ArtifactSourceKind]?: ArtifactSource<K> };

/** Fetches and verifies. Throws ArtifactError or DigestError (`digest_mismatch`). */
export async function fetchArtifact(ref: ArtifactRef, sources: ArtifactSources, options: FetchOptions): Promise<Uint8Array> {
  const kind = ref.location.kind;
  const source = sources[kind] as ArtifactSource | undefined;
  if (!source) throw new ArtifactError("unsupported_artifact_source", `unsupported artifact source "${kind}"`);
  if (ref.size !== undefined && ref.size > options.maxBytes) {
    throw new ArtifactError("artifact_too_large", `the artifact is ${ref.size} bytes; this proplet accepts at most ${options.maxBytes}`, { size: ref.size, maxBytes: options.maxBytes });
  }
  const expected = { digest: ref.digest, ...(ref.size !== undefined ? { size: ref.size } : {}) };
  const bytes = await source.fetch(ref.location as never, { ...options, expected });
  verifyDigest(bytes, ref.digest as `sha256:${string}`, "artifact");
  return bytes;
}
