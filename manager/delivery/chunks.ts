/**
 * The manager's side of chunked MQTT delivery: answers a proplet's artifact.request with one
 * artifact.chunk per index, on that proplet's own chunk topic (never broadcast).
 *
 * - Only artifacts of the asking proplet's active runs (scheduled or running): anything else is
 *   answered with artifact.refused (`not_assigned`), so a proplet cannot read another's workload
 *   by guessing or learning its digest. The proplet's id is the one in the topic, which the broker
 *   ACL vouches for; the router already dropped messages whose body names someone else.
 * - One chunk is read from the database at a time (a stored chunk, or a slice of an inline
 *   artifact): memory per request is one chunk, whatever the artifact's size.
 * - A refused request gets one answer; at most MAX_REQUESTS_PER_PROPLET requests of one proplet
 *   are handled at once (a flood is dropped, the proplet's own timeout asks again).
 */
import { ArtifactChunk, ArtifactRefused, encode, sha256Digest, type ArtifactRequest } from "../../protocol/index.js";
import type { ManagerContext } from "../context.js";
import { DELIVERY_CHUNK_BYTES } from "./location.js";
import { artifactInfo, propletHasRunOf, readChunk } from "./store.js";
import { messageOf } from "../../lib/errors.js";
import { BoundedMap } from "../../lib/bounded-map.js";

/** How long an "allowed" verdict is reused for the same proplet and artifact (one query per window, not per chunk). */
const ALLOWED_TTL_MS = 2000;
const MAX_REMEMBERED = 1024;
/**
 * Requests of one proplet handled at once, at most. A well-behaved proplet keeps at most its
 * window (≤ 64 chunks, so ≤ 64 requests) outstanding; more is a flood: dropped (and counted), and
 * a proplet's chunk timeout asks again. Bounds the database reads and buffered chunks one proplet
 * can cause.
 */
export const MAX_REQUESTS_PER_PROPLET = 64;

export interface ChunkServerStats {
  requests: number;
  chunksSent: number;
  refused: number;
  /** requests dropped because the proplet already had MAX_REQUESTS_PER_PROPLET in hand */
  dropped: number;
}

export class ChunkServer {
  readonly stats: ChunkServerStats = { requests: 0, chunksSent: 0, refused: 0, dropped: 0 };
  private readonly busy = new Map<string, number>();
  /** `${propletId} ${digest}` → allowed until, and the artifact's size */
  private readonly allowed = new BoundedMap<string, { until: number; size: number }>({ maxEntries: MAX_REMEMBERED });

  constructor(private readonly ctx: ManagerContext) {}

  async onRequest(propletId: string, msg: ArtifactRequest): Promise<void> {
    this.stats.requests++;
    const held = this.busy.get(propletId) ?? 0;
    if (held >= MAX_REQUESTS_PER_PROPLET) {
      this.stats.dropped++;
      this.ctx.log.debug({ propletId, digest: msg.digest }, "artifact request dropped: too many of this proplet's requests in hand");
      return;
    }
    this.busy.set(propletId, held + 1);
    try {
      await this.serve(propletId, msg);
    } finally {
      const left = (this.busy.get(propletId) ?? 1) - 1;
      if (left > 0) this.busy.set(propletId, left);
      else this.busy.delete(propletId);
    }
  }

  private async serve(propletId: string, msg: ArtifactRequest): Promise<void> {
    const { digest } = msg;
    const size = await this.readableSize(propletId, digest);
    if (size === "not_assigned") {
      this.ctx.log.warn({ propletId, digest }, "artifact request refused: no active run of this proplet uses the artifact");
      return this.refuse(propletId, digest, "not_assigned", `no active run of proplet ${propletId} uses artifact ${digest}`);
    }
    if (size === "missing") return this.refuse(propletId, digest, "artifact_missing", `the manager holds no artifact ${digest}`);
    const total = Math.ceil(size / DELIVERY_CHUNK_BYTES);
    const topic = this.ctx.topics.proplet(propletId, "artifacts/chunk");
    // Publishes are not awaited one by one: the next chunk is read while the broker acknowledges
    // the previous ones (at most `indices.length` ≤ 64 chunks, one request's worth, in flight).
    const sending: Array<Promise<void>> = [];
    try {
      for (const index of msg.indices) {
        if (!(await this.sendOne(propletId, digest, index, total, topic, msg.traceparent, sending))) return;
      }
    } finally {
      await Promise.all(sending);
    }
  }

  /** Reads one chunk and starts publishing it; false when the request was refused instead. */
  private async sendOne(propletId: string, digest: string, index: number, total: number, topic: string, traceparent: string, sending: Array<Promise<void>>): Promise<boolean> {
      if (index >= total) {
        await this.refuse(propletId, digest, "chunk_out_of_range", `artifact ${digest} has ${total} chunks; there is no chunk ${index}`);
        return false;
      }
      const data = await readChunk(this.ctx.db, digest, index, DELIVERY_CHUNK_BYTES);
      if (!data) {
        await this.refuse(propletId, digest, "artifact_missing", `chunk ${index} of artifact ${digest} is not stored`);
        return false;
      }
      const payload = encode(ArtifactChunk, {
        kind: "artifact.chunk",
        propletId,
        digest,
        index,
        total,
        sha256: sha256Digest(data),
        data: data.toString("base64"),
        traceparent,
      });
      sending.push(
        this.ctx.publish(topic, payload).then(
          () => void this.stats.chunksSent++,
          // The proplet asks again after its chunk timeout.
          (err: unknown) => this.ctx.log.debug({ propletId, digest, index, err: messageOf(err) }, "chunk not sent"),
        ),
      );
      return true;
  }

  /** The artifact's size when `propletId` may read it (verdict and size remembered briefly). */
  private async readableSize(propletId: string, digest: string): Promise<number | "not_assigned" | "missing"> {
    const key = `${propletId} ${digest}`;
    const now = Date.now();
    const known = this.allowed.get(key);
    if (known !== undefined && known.until > now) return known.size;
    this.allowed.delete(key);
    if (!(await propletHasRunOf(this.ctx.db, propletId, digest))) return "not_assigned";
    const info = await artifactInfo(this.ctx.db, digest);
    if (!info || info.size === 0) return "missing";
    this.allowed.set(key, { until: now + ALLOWED_TTL_MS, size: info.size });
    return info.size;
  }

  private async refuse(propletId: string, digest: string, code: string, message: string): Promise<void> {
    this.stats.refused++;
    const payload = encode(ArtifactRefused, { kind: "artifact.refused", propletId, digest, code, message });
    await this.ctx.publish(this.ctx.topics.proplet(propletId, "artifacts/chunk"), payload).catch(() => undefined);
  }
}
