/**
 * Chunked artifact delivery over MQTT, for proplets that cannot reach a registry or HTTP server.
 *
 * The proplet asks on its own topic for chunks of an artifact it was given a run of; the manager
 * answers each index on the proplet's own chunk topic (never broadcast). Every chunk carries its
 * own sha256 (a corrupted chunk is re-requested, not written) and the whole artifact is checked
 * against the task's digest before anything runs. A request for an artifact that is not assigned
 * to one of the proplet's active runs is answered with `artifact.refused`.
 */
import { Type, type Static } from "@sinclair/typebox";
import { LIMITS } from "../limits.js";
import { Base64, DigestString, PropletId, message } from "./common.js";

const Index = Type.Integer({ minimum: 0, maximum: Math.ceil(LIMITS.maxArtifactBytes / LIMITS.minArtifactChunkBytes) - 1 });

/** Proplet → manager, `<root>/proplets/<id>/artifacts/request`. */
export const ArtifactRequest = message("artifact.request", {
  propletId: PropletId,
  digest: DigestString,
  /** Chunk indices wanted (bounded: a proplet keeps a small window outstanding). */
  indices: Type.Array(Index, { minItems: 1, maxItems: LIMITS.maxChunksPerRequest, uniqueItems: true }),
});
export type ArtifactRequest = Static<typeof ArtifactRequest>;

/** Manager → proplet, `<root>/proplets/<id>/artifacts/chunk`: one chunk. */
export const ArtifactChunk = message("artifact.chunk", {
  propletId: PropletId,
  digest: DigestString,
  index: Index,
  total: Type.Integer({ minimum: 1, maximum: Math.ceil(LIMITS.maxArtifactBytes / LIMITS.minArtifactChunkBytes) }),
  /** sha256 of this chunk's bytes. */
  sha256: DigestString,
  data: Base64(LIMITS.maxArtifactChunkBytes),
});
export type ArtifactChunk = Static<typeof ArtifactChunk>;

/** Manager → proplet, same topic: the request is refused (not assigned, not stored, bad index). */
export const ArtifactRefused = message("artifact.refused", {
  propletId: PropletId,
  digest: DigestString,
  code: Type.String({ maxLength: 64 }),
  message: Type.String({ maxLength: 1024 }),
});
export type ArtifactRefused = Static<typeof ArtifactRefused>;

export const ArtifactChunkReply = Type.Union([ArtifactChunk, ArtifactRefused]);
export type ArtifactChunkReply = Static<typeof ArtifactChunkReply>;
