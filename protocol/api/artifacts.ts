/** Artifacts: how a task names its Wasm bytes, and the upload of bytes the manager delivers itself. */
import { Type, type Static } from "@sinclair/typebox";
import { DIGEST_PATTERN } from "../digest.js";
import { LIMITS } from "../limits.js";
import { Base64, Digest } from "./common.js";
import { MAX_URL_LENGTH } from "./limits.js";

export const ArtifactInput = Type.Union([
  Type.Object({ digest: Digest, inline: Base64(LIMITS.inlineArtifactBytes) }, { additionalProperties: false }),
  Type.Object({ digest: Digest, url: Type.String({ minLength: 8, maxLength: MAX_URL_LENGTH }) }, { additionalProperties: false }),
  /**
   * An OCI reference (`registry/repo:tag` or `registry/repo@sha256:…`). Without `digest` the manager
   * reads the manifest now and pins the task to it; with `digest` (the Wasm layer's) it asks no
   * registry and the proplet checks what it pulls against it (see manager/delivery/README.md).
   */
  Type.Object({ oci: Type.String({ minLength: 3, maxLength: 1024 }), digest: Type.Optional(Digest) }, { additionalProperties: false }),
  /**
   * Bytes the manager holds (inline here, or uploaded before with PUT /artifacts/{digest}) delivered
   * to the proplet in chunks over MQTT instead of inside task.start.
   */
  Type.Object({ digest: Digest, inline: Type.Optional(Base64(LIMITS.inlineArtifactBytes)), delivery: Type.Literal("mqtt") }, { additionalProperties: false }),
]);
export type ArtifactInput = Static<typeof ArtifactInput>;

/** A task's artifact as the API shows it. */
export const ArtifactView = Type.Object({
  digest: Type.String(),
  size: Type.Union([Type.Integer(), Type.Null()]),
  location: Type.Union([Type.Literal("inline"), Type.Literal("http"), Type.Literal("oci"), Type.Literal("mqtt")]),
  url: Type.Optional(Type.String()),
  /** OCI: the reference the proplet pulls (pinned to the manifest digest when the manager resolved it). */
  reference: Type.Optional(Type.String()),
});
export type ArtifactView = Static<typeof ArtifactView>;

/** PUT /artifacts/{digest}: the bytes' digest is the resource. */
export const ArtifactParams = Type.Object({ digest: Type.String({ pattern: DIGEST_PATTERN }) });
export type ArtifactParams = Static<typeof ArtifactParams>;
/** The upload's reply: 201 when stored now, 200 when the manager already held these bytes. */
export const StoredArtifact = Type.Object({ digest: Type.String(), size: Type.Integer(), created: Type.Boolean() });
export type StoredArtifact = Static<typeof StoredArtifact>;
