import { Type, type Static } from "@sinclair/typebox";
import { DIGEST_PATTERN } from "../protocol/digest.js";
import { validate } from "../protocol/codec.js";
import { SchemaError } from "../protocol/errors.js";
import { OciManifestError } from "./errors.js";

/** Media types of the OCI image spec and Docker's schema 2 that the client asks for. */
export const MEDIA_TYPES = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
} as const;

/** Accept header for manifest requests: the OCI manifest and index, and Docker's v2 manifest. */
export const MANIFEST_ACCEPT: readonly string[] = [MEDIA_TYPES.ociManifest, MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifest, MEDIA_TYPES.dockerManifestList];

/** Registries cap manifests at 4 MiB (the distribution spec's suggestion); so do we. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

const MediaType = Type.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$" });
const Annotations = Type.Record(Type.String({ maxLength: 1024 }), Type.String({ maxLength: 64 * 1024 }), { maxProperties: 256 });

export const Descriptor = Type.Object({
  mediaType: MediaType,
  digest: Type.String({ pattern: DIGEST_PATTERN }),
  size: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
  annotations: Type.Optional(Annotations),
  artifactType: Type.Optional(MediaType),
  urls: Type.Optional(Type.Array(Type.String(), { maxItems: 16 })),
  platform: Type.Optional(
    Type.Object({ architecture: Type.String({ maxLength: 64 }), os: Type.String({ maxLength: 64 }) }, { additionalProperties: true }),
  ),
}, { additionalProperties: true });
export type Descriptor = Static<typeof Descriptor>;

export const ImageManifest = Type.Object({
  schemaVersion: Type.Literal(2),
  mediaType: Type.Optional(MediaType),
  artifactType: Type.Optional(MediaType),
  config: Descriptor,
  layers: Type.Array(Descriptor, { maxItems: 1024 }),
  subject: Type.Optional(Descriptor),
  annotations: Type.Optional(Annotations),
}, { additionalProperties: true });
export type ImageManifest = Static<typeof ImageManifest>;

export const ImageIndex = Type.Object({
  schemaVersion: Type.Literal(2),
  mediaType: Type.Optional(MediaType),
  artifactType: Type.Optional(MediaType),
  manifests: Type.Array(Descriptor, { maxItems: 1024 }),
  annotations: Type.Optional(Annotations),
}, { additionalProperties: true });
export type ImageIndex = Static<typeof ImageIndex>;

export type ParsedManifest = { kind: "manifest"; mediaType: string; manifest: ImageManifest } | { kind: "index"; mediaType: string; index: ImageIndex };

/**
 * Parses manifest bytes. The media type comes from the document's own `mediaType` field when
 * present (it is covered by the digest), else from the response's Content-Type; when both are
 * present they must agree.
 */
export function parseManifest(bytes: Uint8Array, contentType: string | null, what: string): ParsedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"));
  } catch {
    throw new OciManifestError("oci_manifest_invalid", `${what} is not JSON`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new OciManifestError("oci_manifest_invalid", `${what} is not a JSON object`);
  const declared = (doc as { mediaType?: unknown }).mediaType;
  const header = contentType?.split(";")[0]?.trim().toLowerCase() || undefined;
  if (typeof declared === "string" && header && header !== declared && MANIFEST_ACCEPT.includes(header)) {
    throw new OciManifestError("oci_manifest_invalid", `${what}: Content-Type ${header} contradicts the manifest's mediaType ${declared}`);
  }
  const mediaType = typeof declared === "string" ? declared : header ?? (("manifests" in doc) ? MEDIA_TYPES.ociIndex : MEDIA_TYPES.ociManifest);
  try {
    if (mediaType === MEDIA_TYPES.ociIndex || mediaType === MEDIA_TYPES.dockerManifestList) {
      return { kind: "index", mediaType, index: validate(ImageIndex, doc, what) };
    }
    if (mediaType === MEDIA_TYPES.ociManifest || mediaType === MEDIA_TYPES.dockerManifest) {
      return { kind: "manifest", mediaType, manifest: validate(ImageManifest, doc, what) };
    }
  } catch (err) {
    if (err instanceof SchemaError) throw new OciManifestError("oci_manifest_invalid", err.message, err.details);
    throw err;
  }
  throw new OciManifestError("oci_manifest_invalid", `${what} has unsupported media type ${mediaType.slice(0, 100)}`);
}
