import { isDigest, sha256Digest, type Digest } from "../protocol/digest.js";
import { DigestError } from "../protocol/errors.js";
import { LIMITS } from "../protocol/limits.js";
import { OciNotFoundError, OciRegistryError } from "./errors.js";
import { MANIFEST_ACCEPT, MAX_MANIFEST_BYTES } from "./manifest.js";
import { formatReference, type Reference } from "./reference.js";
import { createTransport, discard, errorDetail, readBody, type Exchange, type TransportOptions } from "./transport.js";

export interface OciClientOptions extends TransportOptions {
  /** Largest manifest accepted. Default 4 MiB. */
  maxManifestBytes?: number;
  /** Largest blob accepted (refused while streaming). Default LIMITS.artifactBytes (64 MiB). */
  maxBlobBytes?: number;
}

/** A repository in a registry. */
export type Repository = Pick<Reference, "registry" | "repository">;

export interface FetchedManifest {
  bytes: Uint8Array;
  /** sha256 of exactly these bytes (equal to the reference's digest when pulled by digest). */
  digest: Digest;
  /** Content-Type the registry served it with. */
  contentType: string | null;
}

export interface OciClient {
  /** GET a manifest by tag or digest; verifies the digest when pulled by digest, reports it when by tag. */
  getManifest(ref: Reference, opts?: { signal?: AbortSignal }): Promise<FetchedManifest>;
  /** HEAD a manifest: its digest and size, or null when the registry does not have it. */
  headManifest(ref: Reference): Promise<{ digest: Digest | undefined; size: number | undefined } | null>;
  /** GET a blob, streamed with the size cap, digest-verified before it is returned. */
  getBlob(repo: Repository, digest: Digest, opts?: { size?: number; maxBytes?: number; signal?: AbortSignal }): Promise<Uint8Array>;
  /** HEAD a blob: its size, or null when the repository does not have it. */
  headBlob(repo: Repository, digest: Digest): Promise<{ size: number | undefined } | null>;
  /** Uploads a blob (POST then monolithic PUT ?digest=) unless HEAD says it is already there. */
  pushBlob(repo: Repository, bytes: Uint8Array): Promise<{ digest: Digest; size: number; skipped: boolean }>;
  /** PUTs a manifest under a tag (or its digest); returns its digest, checked against the registry's. */
  putManifest(repo: Repository, tagOrDigest: string, bytes: Uint8Array, mediaType: string): Promise<Digest>;
}

export function createOciClient(options: OciClientOptions = {}): OciClient {
  const transport = createTransport(options);
  const maxManifestBytes = options.maxManifestBytes ?? MAX_MANIFEST_BYTES;
  const maxBlobBytes = options.maxBlobBytes ?? LIMITS.artifactBytes;

  const apiUrl = (repo: Repository, kind: "manifests" | "blobs", ref: string) =>
    new URL(`v2/${repo.repository}/${kind}/${ref}`, transport.baseUrl(repo.registry));

  async function failure(ex: Exchange, what: string, notFound: "oci_manifest_unknown" | "oci_blob_unknown"): Promise<never> {
    const status = ex.res.status;
    const detail = await errorDetail(ex.res, ex.timer);
    if (status === 404) {
      // NAME_UNKNOWN: the repository itself is missing; say so, it is a different mistake.
      const code = detail.includes("NAME_UNKNOWN") ? "oci_repository_unknown" : notFound;
      throw new OciNotFoundError(code, `${what} not found${detail}`, { status });
    }
    throw new OciRegistryError(`${what}: registry answered ${status}${detail}`, status);
  }

  /** A blob read (HEAD or GET); registries may redirect a blob to storage, so redirects are followed. */
  function sendBlobRead(method: "HEAD" | "GET", repo: Repository, digest: Digest, what: string, signal?: AbortSignal): Promise<Exchange> {
    return transport.send({
      method,
      url: apiUrl(repo, "blobs", digest),
      registry: repo.registry,
      repository: repo.repository,
      push: false,
      followRedirects: true,
      what,
      ...(signal ? { signal } : {}),
    });
  }

  async function headBlob(repo: Repository, digest: Digest): Promise<{ size: number | undefined } | null> {
    const what = `blob ${repo.registry}/${repo.repository}@${digest}`;
    const ex = await sendBlobRead("HEAD", repo, digest, what);
    await discard(ex.res, ex.timer);
    if (ex.res.status === 404) return null;
    if (ex.res.status !== 200) throw new OciRegistryError(`${what}: registry answered ${ex.res.status}`, ex.res.status);
    const len = contentLength(ex.res);
    return { size: len };
  }

  return {
    async getManifest(ref, opts = {}) {
      const what = `manifest ${formatReference(ref)}`;
      const target = ref.digest ?? ref.tag;
      if (!target) throw new OciNotFoundError("oci_manifest_unknown", `${what}: no tag or digest`);
      const ex = await transport.send({
        method: "GET",
        url: apiUrl(ref, "manifests", target),
        registry: ref.registry,
        repository: ref.repository,
        push: false,
        headers: { accept: MANIFEST_ACCEPT.join(", ") },
        followRedirects: true,
        what,
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      if (ex.res.status !== 200) return failure(ex, what, "oci_manifest_unknown");
      const contentType = ex.res.headers.get("content-type");
      const claimed = ex.res.headers.get("docker-content-digest");
      const { bytes, digest } = await readBody(ex, { what, maxBytes: maxManifestBytes, ...(ref.digest ? { expectedDigest: ref.digest } : {}) });
      // By tag the registry's header is only a claim; if it is there it must match what we hashed.
      if (claimed && isDigest(claimed) && claimed !== digest) {
        throw new DigestError("digest_mismatch", `${what}: registry says ${claimed} but the manifest hashes to ${digest}`, { expected: claimed, actual: digest });
      }
      return { bytes, digest, contentType };
    },

    async headManifest(ref) {
      const what = `manifest ${formatReference(ref)}`;
      const ex = await transport.send({
        method: "HEAD",
        url: apiUrl(ref, "manifests", ref.digest ?? ref.tag ?? ""),
        registry: ref.registry,
        repository: ref.repository,
        push: false,
        headers: { accept: MANIFEST_ACCEPT.join(", ") },
        followRedirects: true,
        what,
      });
      await discard(ex.res, ex.timer);
      if (ex.res.status === 404) return null;
      if (ex.res.status !== 200) throw new OciRegistryError(`${what}: registry answered ${ex.res.status}`, ex.res.status);
      const d = ex.res.headers.get("docker-content-digest");
      const len = contentLength(ex.res);
      return { digest: d && isDigest(d) ? d : undefined, size: len };
    },

    async getBlob(repo, digest, opts = {}) {
      const what = `blob ${repo.registry}/${repo.repository}@${digest}`;
      const ex = await sendBlobRead("GET", repo, digest, what, opts.signal);
      if (ex.res.status !== 200) return failure(ex, what, "oci_blob_unknown");
      const { bytes } = await readBody(ex, {
        what,
        maxBytes: Math.min(opts.maxBytes ?? maxBlobBytes, maxBlobBytes),
        ...(opts.size !== undefined ? { expectedSize: opts.size } : {}),
        expectedDigest: digest,
      });
      return bytes;
    },

    headBlob,

    async pushBlob(repo, bytes) {
      const digest = sha256Digest(bytes);
      const what = `blob upload ${repo.registry}/${repo.repository}@${digest}`;
      const existing = await headBlob(repo, digest);
      if (existing && (existing.size === undefined || existing.size === bytes.byteLength)) {
        return { digest, size: bytes.byteLength, skipped: true };
      }
      const start = await transport.send({
        method: "POST",
        url: new URL(`v2/${repo.repository}/blobs/uploads/`, transport.baseUrl(repo.registry)),
        registry: repo.registry,
        repository: repo.repository,
        push: true,
        followRedirects: false,
        what,
      });
      if (start.res.status !== 202) {
        const detail = await errorDetail(start.res, start.timer);
        throw new OciRegistryError(`${what}: upload could not start (${start.res.status})${detail}`, start.res.status);
      }
      const location = start.res.headers.get("location");
      await discard(start.res, start.timer);
      if (!location) throw new OciRegistryError(`${what}: upload started without a Location`, 202);
      const uploadUrl = new URL(location, transport.baseUrl(repo.registry));
      uploadUrl.searchParams.set("digest", digest);
      const put = await transport.send({
        method: "PUT",
        url: uploadUrl,
        registry: repo.registry,
        repository: repo.repository,
        push: true,
        headers: { "content-type": "application/octet-stream" },
        body: bytes,
        followRedirects: false,
        what,
      });
      if (put.res.status !== 201) {
        const detail = await errorDetail(put.res, put.timer);
        throw new OciRegistryError(`${what}: upload refused with ${put.res.status}${detail}`, put.res.status);
      }
      await discard(put.res, put.timer);
      const stored = put.res.headers.get("docker-content-digest");
      if (stored && stored !== digest) {
        throw new DigestError("digest_mismatch", `${what}: registry stored ${stored}, we sent ${digest}`, { expected: digest, actual: stored });
      }
      return { digest, size: bytes.byteLength, skipped: false };
    },

    async putManifest(repo, tagOrDigest, bytes, mediaType) {
      const digest = sha256Digest(bytes);
      const what = `manifest upload ${repo.registry}/${repo.repository}:${tagOrDigest}`;
      const ex = await transport.send({
        method: "PUT",
        url: apiUrl(repo, "manifests", tagOrDigest),
        registry: repo.registry,
        repository: repo.repository,
        push: true,
        headers: { "content-type": mediaType },
        body: bytes,
        followRedirects: false,
        what,
      });
      if (ex.res.status !== 201) {
        const detail = await errorDetail(ex.res, ex.timer);
        throw new OciRegistryError(`${what}: refused with ${ex.res.status}${detail}`, ex.res.status);
      }
      await discard(ex.res, ex.timer);
      const stored = ex.res.headers.get("docker-content-digest");
      if (stored && stored !== digest) {
        throw new DigestError("digest_mismatch", `${what}: registry stored ${stored}, we sent ${digest}`, { expected: digest, actual: stored });
      }
      return digest;
    },
  };
}

function contentLength(res: Response): number | undefined {
  const value = res.headers.get("content-length");
  return value !== null && /^[0-9]{1,15}$/.test(value) ? Number(value) : undefined;
}
