import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, stat, unlink, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { isDigest, sha256Digest, type Digest } from "../protocol/digest.js";
import { DigestError } from "../protocol/errors.js";
import { messageOf } from "../lib/errors.js";
import { BoundedMap } from "../lib/bounded-map.js";

/** The caches are bounded by bytes only; the entry count needs no bound of its own. */
const ANY_COUNT = Number.MAX_SAFE_INTEGER;

/**
 * Content cache by digest (blobs and manifests alike), bounded by total bytes, least recently
 * used out first.
 *
 * It never returns bytes that do not hash to the digest asked for:
 * - `put` refuses content whose sha256 is not the digest it is filed under;
 * - the disk cache RE-HASHES every entry on read. A write-time check plus a sidecar would only
 *   prove the file was right when written; what we must rule out is what happened since (a torn
 *   write after a crash that rename could not prevent without fsync, disk corruption, another
 *   process editing the directory). sha256 runs at several hundred MB/s here, far faster than the
 *   network pull the cache saves, so re-verifying costs little. A corrupt entry is deleted and
 *   reported as a miss; the caller fetches again from the registry.
 * - the memory cache keeps private copies (in and out), so no caller can mutate a cached entry.
 */
export interface ContentCache {
  get(digest: Digest): Promise<Uint8Array | undefined>;
  /** Stores `bytes` under `digest` (checked). Entries larger than the whole cache are not kept. */
  put(digest: Digest, bytes: Uint8Array): Promise<void>;
  delete(digest: Digest): Promise<void>;
  stats(): CacheStats;
}

export interface CacheStats {
  entries: number;
  bytes: number;
  maxBytes: number;
  hits: number;
  misses: number;
  evictions: number;
  /** Entries found corrupt on read (deleted, never served). */
  corrupt: number;
}

function checkPut(digest: Digest, bytes: Uint8Array): void {
  if (!isDigest(digest)) throw new DigestError("digest_malformed", `cache key "${String(digest).slice(0, 80)}" is not a sha256 digest`);
  const actual = sha256Digest(bytes);
  if (actual !== digest) {
    throw new DigestError("digest_mismatch", `refusing to cache content under ${digest}: it hashes to ${actual}`, { expected: digest, actual });
  }
}

export interface DiskCacheOptions {
  dir: string;
  maxBytes: number;
  logger?: Logger;
}

/**
 * A cache in `dir`: entries are `dir/sha256/<hex>`, written to `dir/tmp/` first and renamed into
 * place, so a reader never sees a half-written entry. Recency is the file's mtime (touched on
 * every hit), so the LRU order survives restarts. One process should own a directory.
 */
export async function openDiskCache(options: DiskCacheOptions): Promise<ContentCache> {
  const { dir, maxBytes, logger } = options;
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) throw new RangeError("maxBytes must be a positive integer");
  const blobs = join(dir, "sha256");
  const tmp = join(dir, "tmp");
  await mkdir(blobs, { recursive: true, mode: 0o700 });
  await rm(tmp, { recursive: true, force: true }); // leftovers of an interrupted write
  await mkdir(tmp, { recursive: true, mode: 0o700 });

  const counters = { hits: 0, misses: 0, evictions: 0, corrupt: 0 };
  /** hex → size, in LRU order (first = least recently used); bounded by the sizes' sum. */
  const index = new BoundedMap<string, number>({ maxEntries: ANY_COUNT, maxWeight: maxBytes, weigh: (size) => size, lru: true });
  const unlinkBlob = (hex: string) => unlink(join(blobs, hex)).catch(() => undefined);
  /** Files of entries the index has just evicted: counted, logged, removed. */
  const removeEvicted = async (evicted: string[]) => {
    for (const hex of evicted) {
      counters.evictions++;
      logger?.debug({ digest: `sha256:${hex}` }, "cache eviction");
      await unlinkBlob(hex);
    }
  };

  const found: Array<{ hex: string; size: number; mtime: number }> = [];
  for (const name of await readdir(blobs)) {
    const path = join(blobs, name);
    if (!/^[0-9a-f]{64}$/.test(name)) {
      await rm(path, { recursive: true, force: true });
      continue;
    }
    const s = await stat(path).catch(() => undefined);
    if (s?.isFile()) found.push({ hex: name, size: s.size, mtime: s.mtimeMs });
  }
  found.sort((a, b) => a.mtime - b.mtime);
  for (const f of found) {
    // A file larger than the whole cache (left by a larger configuration) is not kept.
    if (f.size > maxBytes) {
      counters.evictions++;
      await unlinkBlob(f.hex);
      continue;
    }
    await removeEvicted(index.set(f.hex, f.size));
  }

  const drop = async (hex: string) => {
    if (index.delete(hex)) await unlinkBlob(hex);
  };

  return {
    async get(digest) {
      if (!isDigest(digest)) return undefined;
      const hex = digest.slice("sha256:".length);
      // A hit makes the entry the most recently used.
      const size = index.get(hex);
      if (size === undefined) {
        counters.misses++;
        return undefined;
      }
      let bytes: Buffer;
      try {
        // A file that changed size since we indexed it is not read at all (it could be huge).
        const s = await stat(join(blobs, hex));
        bytes = s.size === size ? await readFile(join(blobs, hex)) : Buffer.alloc(0);
      } catch {
        await drop(hex);
        counters.misses++;
        return undefined;
      }
      if (bytes.byteLength !== size || sha256Digest(bytes) !== digest) {
        counters.corrupt++;
        counters.misses++;
        logger?.warn({ digest }, "cache entry does not match its digest; deleted");
        await drop(hex);
        return undefined;
      }
      const now = new Date();
      await utimes(join(blobs, hex), now, now).catch(() => undefined);
      counters.hits++;
      return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
    async put(digest, bytes) {
      checkPut(digest, bytes);
      const hex = digest.slice("sha256:".length);
      if (bytes.byteLength > maxBytes || index.has(hex)) return;
      const temp = join(tmp, `${hex}.${randomBytes(6).toString("hex")}`);
      try {
        await writeFile(temp, bytes, { mode: 0o600, flag: "wx" });
        await rename(temp, join(blobs, hex));
      } catch (err) {
        await unlink(temp).catch(() => undefined);
        logger?.warn({ digest, err: messageOf(err) }, "cache write failed");
        return;
      }
      if (!index.has(hex)) await removeEvicted(index.set(hex, bytes.byteLength));
    },
    async delete(digest) {
      if (isDigest(digest)) await drop(digest.slice("sha256:".length));
    },
    stats: () => ({ entries: index.size, bytes: index.totalWeight, maxBytes, ...counters }),
  };
}

/** The same contract in memory, for proplets without a writable disk. */
export function createMemoryCache(options: { maxBytes: number }): ContentCache {
  const { maxBytes } = options;
  const counters = { hits: 0, misses: 0, evictions: 0, corrupt: 0 };
  const index = new BoundedMap<Digest, Uint8Array>({
    maxEntries: ANY_COUNT,
    maxWeight: maxBytes,
    weigh: (bytes) => bytes.byteLength,
    lru: true,
    onEvict: () => void counters.evictions++,
  });
  return {
    async get(digest) {
      const bytes = index.get(digest);
      if (!bytes) {
        counters.misses++;
        return undefined;
      }
      counters.hits++;
      return bytes.slice();
    },
    async put(digest, bytes) {
      checkPut(digest, bytes);
      if (bytes.byteLength > maxBytes || index.has(digest)) return;
      index.set(digest, bytes.slice());
    },
    async delete(digest) {
      index.delete(digest);
    },
    stats: () => ({ entries: index.size, bytes: index.totalWeight, maxBytes, ...counters }),
  };
}
