/**
 * Stores an artifact streamed by a client (PUT /artifacts/{digest}) in fixed-size chunks, in one
 * transaction: memory holds one chunk at a time, the size is bounded while reading, and the digest
 * is checked before the transaction commits (a wrong or truncated upload leaves nothing behind).
 */
import type { Readable } from "node:stream";
import type { Database } from "../../db/index.js";
import { SizeLimitError, digestHasher } from "../../protocol/index.js";
import { InvalidRequestError } from "../errors.js";
import { DELIVERY_CHUNK_BYTES } from "./location.js";
import { artifactInfo, beginChunkedArtifact, finishChunkedArtifact, putChunk } from "./store.js";

export interface StoredUpload {
  digest: string;
  size: number;
  /** false: the manager already held these bytes (content-addressed: nothing to store). */
  created: boolean;
}

export async function storeUpload(db: Database, digest: string, body: Readable, maxBytes: number): Promise<StoredUpload> {
  const existing = await artifactInfo(db, digest);
  if (existing && existing.size > 0) {
    await drain(body, maxBytes);
    return { digest, size: existing.size, created: false };
  }
  return db.transaction(async (tx) => {
    if (!(await beginChunkedArtifact(tx, digest, DELIVERY_CHUNK_BYTES))) {
      // Stored meanwhile by another upload of the same bytes.
      await drain(body, maxBytes);
      const info = await artifactInfo(tx, digest);
      return { digest, size: info?.size ?? 0, created: false };
    }
    const hasher = digestHasher();
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let size = 0;
    let index = 0;
    const flush = async (all: boolean) => {
      while (pendingBytes >= DELIVERY_CHUNK_BYTES || (all && pendingBytes > 0)) {
        const joined = Buffer.concat(pending);
        const chunk = joined.subarray(0, DELIVERY_CHUNK_BYTES);
        await putChunk(tx, digest, index++, chunk);
        const rest = joined.subarray(chunk.byteLength);
        pending = rest.byteLength > 0 ? [Buffer.from(rest)] : [];
        pendingBytes = rest.byteLength;
      }
    };
    for await (const piece of body as AsyncIterable<Buffer>) {
      size += piece.byteLength;
      if (size > maxBytes) throw new SizeLimitError(`the artifact is larger than ${maxBytes} bytes, the most this manager stores`, { limit: maxBytes });
      hasher.update(piece);
      pending.push(piece);
      pendingBytes += piece.byteLength;
      if (pendingBytes >= DELIVERY_CHUNK_BYTES) await flush(false);
    }
    if (size === 0) throw new InvalidRequestError("empty_artifact", "the request body is empty: send the artifact's bytes");
    const actual = hasher.digest();
    if (actual !== digest) {
      throw new InvalidRequestError("digest_mismatch", `the uploaded bytes hash to ${actual}, not ${digest}; nothing was stored`, { expected: digest, actual });
    }
    await flush(true);
    await finishChunkedArtifact(tx, digest, size);
    return { digest, size, created: true };
  });
}

/** Reads and discards a body we do not need (bounded), so the client can finish sending it. */
async function drain(body: Readable, maxBytes: number): Promise<void> {
  let size = 0;
  for await (const piece of body as AsyncIterable<Buffer>) {
    size += piece.byteLength;
    if (size > maxBytes) throw new SizeLimitError(`the artifact is larger than ${maxBytes} bytes, the most this manager stores`, { limit: maxBytes });
  }
}
