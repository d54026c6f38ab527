/**
 * Artifacts in OCI registries (oci/ does the protocol work: auth, bounded digest-checked blobs,
 * the Wasm layout). What this adds for a proplet:
 * - a disk cache by digest, bounded in bytes (least recently used out first), shared by every run;
 * - the task pins the Wasm layer's digest, so a cached layer with that digest IS the artifact: it
 *   is served without asking the registry at all, whether the reference names a tag or a digest
 *   (the cache re-hashes every entry it returns, and fetchArtifact checks the digest again);
 * - plain HTTP only to registries listed as insecure, credentials per registry host from the
 *   proplet's configuration (never in the task, never logged).
 * Registry failures keep oci/'s stable codes (oci_unauthorized, oci_manifest_unknown, …).
 */
import type { Logger } from "pino";
import { createOciClient, openDiskCache, pullWasm, type CacheStats, type ContentCache, type Credentials, type OciClient } from "../../oci/index.js";
import type { Digest } from "../../protocol/index.js";
import type { ArtifactSource } from "./source.js";

export interface OciSourceOptions {
  /** Registries (`host[:port]`) reached over plain HTTP; every other one is HTTPS only. */
  insecureRegistries: readonly string[];
  /** Credentials by registry host (`host[:port]`); anonymous for the others. */
  credentials: Readonly<Record<string, Credentials>>;
  cacheDir: string;
  cacheMaxBytes: number;
  /** To the response headers and between two body chunks, per registry request. */
  timeoutMs: number;
  logger?: Logger;
}

export interface OciSource extends ArtifactSource<"oci"> {
  /** The cache, once opened (for tests and metrics). */
  cache(): Promise<ContentCache>;
  /** The cache's counters, or null while nothing opened it (a scrape does not create it). */
  cacheStats(): CacheStats | null;
}

export function ociSource(options: OciSourceOptions): OciSource {
  const credentials = new Map(Object.entries(options.credentials));
  const client: OciClient = createOciClient({
    insecureRegistries: options.insecureRegistries,
    credentials: (registry) => credentials.get(registry),
    timeoutMs: options.timeoutMs,
    ...(options.logger ? { logger: options.logger } : {}),
  });
  let opened: Promise<ContentCache> | undefined;
  let ready: ContentCache | undefined;
  const cache = () =>
    (opened ??= openDiskCache({ dir: options.cacheDir, maxBytes: options.cacheMaxBytes, ...(options.logger ? { logger: options.logger } : {}) }).then(
      (c) => (ready = c),
      (err: unknown) => {
        opened = undefined; // try again on the next pull (e.g. the disk was full)
        throw err;
      },
    ));
  return {
    kind: "oci",
    cache,
    cacheStats: () => ready?.stats() ?? null,
    async fetch(location, { maxBytes, signal, expected }) {
      const store = await cache();
      if (expected) {
        const hit = await store.get(expected.digest as Digest);
        if (hit && hit.byteLength <= maxBytes) {
          options.logger?.debug({ digest: expected.digest }, "oci artifact served from the cache");
          return hit;
        }
      }
      const pulled = await pullWasm(location.reference, { client, cache: store, maxBytes, signal, ...(options.logger ? { logger: options.logger } : {}) });
      return pulled.bytes;
    },
  };
}
