import type { Logger } from "pino";
import { isDigest, sha256Digest, type Digest } from "../protocol/digest.js";
import { SizeLimitError } from "../protocol/errors.js";
import { LIMITS } from "../protocol/limits.js";
import { KBS_RESOURCE_URI_MAX_LENGTH, isKbsResourceUri } from "../protocol/kbs.js";
import type { ContentCache } from "./cache.js";
import { createOciClient, type OciClient, type OciClientOptions, type Repository } from "./client.js";
import { OciManifestError, OciReferenceError } from "./errors.js";
import { MEDIA_TYPES, parseManifest, type Descriptor, type ImageManifest } from "./manifest.js";
import { digestReference, formatReference, parseReference, type Reference } from "./reference.js";

/**
 * Wasm artifacts in OCI registries, per the CNCF TAG Runtime "Wasm OCI Artifact" layout
 * (tag-runtime.cncf.io/wgs/wasm/deliverables/wasm-oci-artifact): an OCI image manifest whose
 * config has media type `application/vnd.wasm.config.v0+json` and whose single layer is the
 * module or component, media type `application/wasm`. The layout sets no `artifactType`: under
 * image-spec 1.1 the artifact type of a manifest with a non-empty config is the config's media
 * type, so we neither require nor write the field (and accept it when present). See oci/README.md.
 *
 * Encrypted workloads (age files whose key a KBS releases) use the same layout with the layer
 * media type `application/vnd.propeller.wasm.v1.age` and two manifest annotations naming the KBS
 * resource and the plaintext digest. Not `application/wasm` (a Wasm runtime pulling it would try
 * to run ciphertext) and not ocicrypt's `+encrypted` suffix (tools would look for ocicrypt's
 * wrapped-key annotations and scheme, which this is not).
 */
export const WASM_CONFIG_MEDIA_TYPE = "application/vnd.wasm.config.v0+json";
export const WASM_LAYER_MEDIA_TYPE = "application/wasm";
export const ENCRYPTED_WASM_LAYER_MEDIA_TYPE = "application/vnd.propeller.wasm.v1.age";
export const ANNOTATION_KBS_RESOURCE = "dev.propeller.wasm.kbs-resource";
export const ANNOTATION_PLAINTEXT_DIGEST = "dev.propeller.wasm.plaintext-digest";
const ANNOTATION_TITLE = "org.opencontainers.image.title";
const ANNOTATION_CREATED = "org.opencontainers.image.created";

/** Same grammar and bound as protocol/messages/task.ts ConfidentialSpec.resource: the kbs:/// URI only, no bare path. */
const isKbsResource = (resource: string) => isKbsResourceUri(resource) && resource.length <= KBS_RESOURCE_URI_MAX_LENGTH;
const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];
const AGE_HEADER = Buffer.from("age-encryption.org/v1\n", "latin1");

export interface EncryptedInfo {
  /** `kbs:///<repo>/<type>/<tag>` holding the age identity. */
  kbsResource: string;
  /** sha256 of the decrypted Wasm, checked by the proplet after decryption. */
  plaintextDigest: Digest;
}

export interface PullWasmOptions extends OciClientOptions {
  /** Reuse a client (and its token cache) across pulls; made from the options otherwise. */
  client?: OciClient;
  /** Blobs and by-digest manifests are served from here when present, and stored after a pull. */
  cache?: ContentCache;
  /** Largest Wasm layer accepted. Default LIMITS.artifactBytes. */
  maxBytes?: number;
  /** Cancels the pull (error code oci_cancelled), e.g. when the task is stopped. */
  signal?: AbortSignal;
  logger?: Logger;
}

export interface PulledWasm {
  /** The layer: Wasm bytes, or the age ciphertext when `encrypted` is set. */
  bytes: Uint8Array;
  /** Digest of `bytes` (the layer digest). */
  digest: Digest;
  manifestDigest: Digest;
  /** `registry/repo@sha256:…` of the manifest: what to record for reproducibility. */
  pinned: string;
  layerMediaType: string;
  annotations: Record<string, string>;
  encrypted: EncryptedInfo | null;
}

/** What a Wasm artifact's manifest says, without its layer. */
export interface ResolvedWasm {
  /** Digest of the layer (the Wasm, or the age ciphertext when `encrypted` is set). */
  digest: Digest;
  size: number;
  manifestDigest: Digest;
  /** `registry/repo@sha256:…` of the manifest. */
  pinned: string;
  layerMediaType: string;
  annotations: Record<string, string>;
  encrypted: EncryptedInfo | null;
}

/**
 * Resolves a reference (a tag, or a digest) to the manifest and its Wasm layer descriptor, with
 * every layout check of pullWasm, and fetches no blob: what a scheduler needs to pin a task.
 */
export async function resolveWasm(reference: string | Reference, opts: Omit<PullWasmOptions, "maxBytes"> = {}): Promise<ResolvedWasm> {
  const ref = typeof reference === "string" ? parseReference(reference) : reference;
  const client = opts.client ?? createOciClient(opts);
  return (await resolveLayer(client, ref, opts)).resolved;
}

async function resolveLayer(client: OciClient, ref: Reference, opts: Pick<PullWasmOptions, "cache" | "signal">): Promise<{ resolved: ResolvedWasm; shown: string }> {
  const shown = formatReference(ref);
  let { manifest, manifestDigest } = await loadManifest(client, ref, opts.cache, opts.signal);
  let parsed = parseManifest(manifest, null, `manifest ${shown}`);
  if (parsed.kind === "index") {
    // One level only: an index that points at exactly one Wasm manifest (e.g. platform wasm/wasip1).
    const candidates = parsed.index.manifests.filter(
      (d) => (d.mediaType === MEDIA_TYPES.ociManifest || d.mediaType === MEDIA_TYPES.dockerManifest) &&
        (d.platform === undefined || d.platform.architecture === "wasm") &&
        (d.artifactType === undefined || d.artifactType === WASM_CONFIG_MEDIA_TYPE),
    );
    if (candidates.length !== 1) {
      throw new OciManifestError("oci_not_wasm", `${shown} is an index with ${candidates.length} Wasm manifests; name one by digest`);
    }
    const child: Reference = { registry: ref.registry, repository: ref.repository, digest: candidates[0]!.digest as Digest };
    ({ manifest, manifestDigest } = await loadManifest(client, child, opts.cache, opts.signal));
    parsed = parseManifest(manifest, null, `manifest ${formatReference(child)}`);
    if (parsed.kind !== "manifest") throw new OciManifestError("oci_not_wasm", `${shown}: an index inside an index is not followed`);
  }
  const m = parsed.manifest;
  const layer = wasmLayer(m, shown);
  const annotations = { ...(m.annotations ?? {}) };
  const encrypted = layer.mediaType === ENCRYPTED_WASM_LAYER_MEDIA_TYPE ? encryptedInfo(annotations, shown) : null;
  return {
    shown,
    resolved: {
      digest: layer.digest as Digest,
      size: layer.size,
      manifestDigest,
      pinned: digestReference(ref, manifestDigest),
      layerMediaType: layer.mediaType,
      annotations,
      encrypted,
    },
  };
}

/** Pulls a Wasm artifact: manifest (by tag or digest), checks the layout, then the verified layer. */
export async function pullWasm(reference: string | Reference, opts: PullWasmOptions = {}): Promise<PulledWasm> {
  const ref = typeof reference === "string" ? parseReference(reference) : reference;
  const client = opts.client ?? createOciClient(opts);
  const maxBytes = opts.maxBytes ?? LIMITS.artifactBytes;
  const { resolved, shown } = await resolveLayer(client, ref, opts);
  const { manifestDigest, annotations, encrypted } = resolved;
  const layer = { digest: resolved.digest, size: resolved.size, mediaType: resolved.layerMediaType };
  if (layer.size > maxBytes) {
    // Refused from the descriptor, before a single byte of the layer is fetched.
    throw new SizeLimitError(`${shown}: Wasm layer of ${layer.size} bytes exceeds the limit of ${maxBytes}`, { limit: maxBytes, size: layer.size });
  }
  const digest = layer.digest as Digest;
  let bytes = await opts.cache?.get(digest);
  if (bytes && bytes.byteLength !== layer.size) {
    // Same digest, other size: the descriptor is wrong. Let the registry path report it.
    bytes = undefined;
  }
  if (!bytes) {
    bytes = await client.getBlob(ref, digest, { size: layer.size, maxBytes, ...(opts.signal ? { signal: opts.signal } : {}) });
    await opts.cache?.put(digest, bytes);
  } else {
    opts.logger?.debug({ digest }, "wasm layer served from cache");
  }
  if (encrypted ? !startsWith(bytes, AGE_HEADER) : !startsWith(bytes, WASM_MAGIC)) {
    throw new OciManifestError("oci_not_wasm", `${shown}: layer ${digest} is not ${encrypted ? "an age file" : "a Wasm binary (no \\0asm header)"}`);
  }
  return {
    bytes,
    digest,
    manifestDigest,
    pinned: digestReference(ref, manifestDigest),
    layerMediaType: layer.mediaType,
    annotations,
    encrypted,
  };
}

async function loadManifest(client: OciClient, ref: Reference, cache: ContentCache | undefined, signal: AbortSignal | undefined): Promise<{ manifest: Uint8Array; manifestDigest: Digest }> {
  // By digest the content is immutable, so a cached copy (re-verified by the cache) is as good.
  // By tag we always ask the registry: tags move.
  if (ref.digest) {
    const cached = await cache?.get(ref.digest);
    if (cached) return { manifest: cached, manifestDigest: ref.digest };
  }
  const fetched = await client.getManifest(ref, signal ? { signal } : {});
  await cache?.put(fetched.digest, fetched.bytes);
  return { manifest: fetched.bytes, manifestDigest: fetched.digest };
}

function wasmLayer(m: ImageManifest, shown: string): Descriptor {
  if (m.config.mediaType !== WASM_CONFIG_MEDIA_TYPE) {
    throw new OciManifestError("oci_not_wasm", `${shown} is not a Wasm artifact: config media type is ${m.config.mediaType}, expected ${WASM_CONFIG_MEDIA_TYPE}`);
  }
  if (m.artifactType !== undefined && m.artifactType !== WASM_CONFIG_MEDIA_TYPE) {
    throw new OciManifestError("oci_not_wasm", `${shown} has artifactType ${m.artifactType}, not a Wasm artifact`);
  }
  if (m.layers.length !== 1) throw new OciManifestError("oci_not_wasm", `${shown} has ${m.layers.length} layers; a Wasm artifact has exactly one`);
  const layer = m.layers[0]!;
  if (layer.mediaType !== WASM_LAYER_MEDIA_TYPE && layer.mediaType !== ENCRYPTED_WASM_LAYER_MEDIA_TYPE) {
    throw new OciManifestError("oci_not_wasm", `${shown}: layer media type ${layer.mediaType} is neither ${WASM_LAYER_MEDIA_TYPE} nor ${ENCRYPTED_WASM_LAYER_MEDIA_TYPE}`);
  }
  if (layer.urls !== undefined) throw new OciManifestError("oci_not_wasm", `${shown}: foreign layers (urls) are not fetched`);
  return layer;
}

function encryptedInfo(annotations: Record<string, string>, shown: string): EncryptedInfo {
  const kbsResource = annotations[ANNOTATION_KBS_RESOURCE];
  const plaintextDigest = annotations[ANNOTATION_PLAINTEXT_DIGEST];
  if (!kbsResource || !isKbsResource(kbsResource)) {
    throw new OciManifestError("oci_manifest_invalid", `${shown}: encrypted Wasm without a valid ${ANNOTATION_KBS_RESOURCE} annotation (kbs:///repo/type/tag)`);
  }
  if (!isDigest(plaintextDigest)) {
    throw new OciManifestError("oci_manifest_invalid", `${shown}: encrypted Wasm without a valid ${ANNOTATION_PLAINTEXT_DIGEST} annotation (sha256:…)`);
  }
  return { kbsResource, plaintextDigest };
}

export interface PushWasmOptions extends OciClientOptions {
  client?: OciClient;
  /** The bytes are an age file whose identity is the KBS resource; the plaintext digest is recorded. */
  encrypted?: EncryptedInfo;
  /** Extra manifest annotations (may not override the ones we set). */
  annotations?: Record<string, string>;
  /** `org.opencontainers.image.title` of the layer, e.g. the file name. */
  title?: string;
  /** Config `os`: detected from the binary for plaintext (module wasip1, component wasip2); default wasip1 when encrypted. */
  os?: "wasip1" | "wasip2";
  /** Creation time written into config and annotations (default now); fixed for reproducible digests. */
  created?: Date;
}

export interface PushedWasm {
  manifestDigest: Digest;
  layerDigest: Digest;
  configDigest: Digest;
  /** `registry/repo@sha256:…` */
  pinned: string;
  /** Blobs the registry already had (HEAD said so) and that were not uploaded again. */
  skippedBlobs: Digest[];
}

/** Pushes a Wasm artifact (config and layer blobs, then the manifest under the reference's tag). */
export async function pushWasm(reference: string | Reference, bytes: Uint8Array, opts: PushWasmOptions = {}): Promise<PushedWasm> {
  const ref = typeof reference === "string" ? parseReference(reference) : reference;
  if (ref.tag === undefined) throw new OciReferenceError(`push needs a tag: ${formatReference(ref)}`);
  const shown = formatReference(ref);
  const client = opts.client ?? createOciClient(opts);
  const enc = opts.encrypted;
  if (enc) {
    if (!isKbsResource(enc.kbsResource)) throw new OciReferenceError(`KBS resource "${enc.kbsResource.slice(0, 80)}" is not kbs:///repo/type/tag`);
    if (!isDigest(enc.plaintextDigest)) throw new OciReferenceError(`plaintext digest "${String(enc.plaintextDigest).slice(0, 80)}" is not sha256:<64 hex>`);
    if (!startsWith(bytes, AGE_HEADER)) throw new OciManifestError("oci_not_wasm", `${shown}: encrypted content is not an age file`);
  } else if (!startsWith(bytes, WASM_MAGIC)) {
    throw new OciManifestError("oci_not_wasm", `${shown}: content is not a Wasm binary (no \\0asm header)`);
  }
  const created = (opts.created ?? new Date()).toISOString();
  const layerDigest = sha256Digest(bytes);
  // Bytes 4..7 are the version/layer field: 01 00 00 00 for core modules, 0d 00 01 00 for components.
  const os = opts.os ?? (!enc && bytes[4] === 0x0d && bytes[6] === 0x01 ? "wasip2" : "wasip1");
  const config = Buffer.from(JSON.stringify({ created, architecture: "wasm", os, layerDigests: [layerDigest] }), "utf8");

  const layerDescriptor: Record<string, unknown> = {
    mediaType: enc ? ENCRYPTED_WASM_LAYER_MEDIA_TYPE : WASM_LAYER_MEDIA_TYPE,
    digest: layerDigest,
    size: bytes.byteLength,
  };
  if (opts.title) layerDescriptor.annotations = { [ANNOTATION_TITLE]: opts.title };
  const annotations: Record<string, string> = { ...(opts.annotations ?? {}), [ANNOTATION_CREATED]: created };
  if (enc) {
    annotations[ANNOTATION_KBS_RESOURCE] = enc.kbsResource;
    annotations[ANNOTATION_PLAINTEXT_DIGEST] = enc.plaintextDigest;
  }
  const repo: Repository = { registry: ref.registry, repository: ref.repository };
  const pushedConfig = await client.pushBlob(repo, config);
  const pushedLayer = await client.pushBlob(repo, bytes);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: WASM_CONFIG_MEDIA_TYPE, digest: pushedConfig.digest, size: config.byteLength },
      layers: [layerDescriptor],
      annotations,
    }),
    "utf8",
  );
  const manifestDigest = await client.putManifest(repo, ref.tag, manifest, MEDIA_TYPES.ociManifest);
  return {
    manifestDigest,
    layerDigest,
    configDigest: pushedConfig.digest,
    pinned: digestReference(ref, manifestDigest),
    skippedBlobs: [pushedConfig, pushedLayer].filter((b) => b.skipped).map((b) => b.digest),
  };
}

function startsWith(bytes: Uint8Array, prefix: ArrayLike<number>): boolean {
  if (bytes.byteLength < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}
