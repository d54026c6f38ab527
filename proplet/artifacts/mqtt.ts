/**
 * Chunked artifact delivery over MQTT (protocol/messages/artifact.ts), for proplets that cannot
 * reach a registry or an HTTP server. The proplet asks the manager for chunks on its own request
 * topic and receives them on its own chunk topic.
 *
 * - Bounded memory: at most `window` chunks are requested and not yet received; each chunk that
 *   arrives is checked and written at its offset in a file under the work dir, then dropped. The
 *   whole artifact is read back once, at the end, to be verified and run.
 * - Every chunk's length and sha256 are checked before it is written; a bad one is asked again
 *   (at most `maxChunkAttempts` times per chunk). Duplicates are ignored, any order is fine.
 * - A chunk not received within `chunkTimeoutMs` is asked again; while the broker is unreachable
 *   nothing is asked, and after a reconnect every outstanding chunk is asked again. What arrived
 *   stays: the download resumes, it does not restart. `timeoutMs` bounds the whole download.
 * - Two runs needing the same artifact at once share one download; each gets its own copy of the
 *   bytes. A run that is stopped leaves the download; the last one to leave cancels it.
 * - The whole artifact's digest is checked here (a bad file is never handed out, nor kept) and
 *   again by fetchArtifact.
 */
import { mkdir, open, readFile, rm, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { DigestError, sha256Digest, type ArtifactChunkReply, type ArtifactLocation } from "../../protocol/index.js";
import { ArtifactError } from "../errors.js";
import type { ArtifactSource } from "./source.js";
import { messageOf } from "../../lib/errors.js";

export interface ChunkTransport {
  /** True while requests can reach the manager. */
  connected(): boolean;
  /** Publishes one artifact.request; rejects when the broker does not take it. */
  request(digest: string, indices: number[]): Promise<void>;
}

export interface MqttSourceOptions {
  /** Where partial downloads live (created if missing). */
  dir: string;
  transport: ChunkTransport;
  window: number;
  chunkTimeoutMs: number;
  timeoutMs: number;
  maxChunkAttempts: number;
  logger?: Logger;
}

export interface MqttSourceStats {
  downloads: number;
  /** fetches that joined a download already under way */
  shared: number;
  chunks: number;
  duplicates: number;
  corrupt: number;
  /** chunks asked again after a timeout, a reconnect or a corrupt copy */
  rerequests: number;
}

export interface MqttSource extends ArtifactSource<"mqtt"> {
  /** An artifact.chunk or artifact.refused from the proplet's chunk topic (already validated). */
  onReply(reply: ArtifactChunkReply): void;
  /** The MQTT connection is back: ask again for everything outstanding. */
  onReconnect(): void;
  /** Cancels every download (the proplet is closing). */
  close(): Promise<void>;
  readonly stats: Readonly<MqttSourceStats>;
}

type MqttLocation = Extract<ArtifactLocation, { kind: "mqtt" }>;

export function mqttSource(options: MqttSourceOptions): MqttSource {
  const downloads = new Map<string, Download>();
  const stats: MqttSourceStats = { downloads: 0, shared: 0, chunks: 0, duplicates: 0, corrupt: 0, rerequests: 0 };

  // Partial files left by an earlier process (a crash, a kill) are never resumed: cleared once,
  // before the first download of this one.
  let cleared: Promise<void> | undefined;
  const clearLeftovers = () =>
    (cleared ??= rm(options.dir, { recursive: true, force: true }).then(
      () => undefined,
      (err: unknown) => options.logger?.warn({ dir: options.dir, err: messageOf(err) }, "could not clear partial downloads"),
    ));

  return {
    kind: "mqtt",
    stats,
    async fetch(location, { maxBytes, signal, expected }) {
      if (!expected) throw new ArtifactError("artifact_invalid", "a chunked MQTT artifact needs the task's digest");
      checkLayout(location, maxBytes, expected.size);
      await clearLeftovers();
      if (signal.aborted) throw new ArtifactError("artifact_unreachable", "fetching the artifact was aborted");
      const digest = expected.digest;
      let download = downloads.get(digest);
      if (download && !download.sameLayout(location)) {
        throw new ArtifactError("artifact_invalid", `artifact ${digest} is already being fetched with another layout (${download.describe()})`);
      }
      if (download) stats.shared++;
      else {
        stats.downloads++;
        download = new Download(digest, location, options, stats, () => downloads.delete(digest));
        downloads.set(digest, download);
        download.start();
      }
      return download.join(signal);
    },
    onReply(reply) {
      const download = downloads.get(reply.digest);
      if (!download) {
        // Late chunks of a finished or cancelled download, or a repeat: nothing to do.
        if (reply.kind === "artifact.chunk") stats.duplicates++;
        return;
      }
      if (reply.kind === "artifact.refused") download.fail(new ArtifactError("artifact_refused", `the manager refused artifact ${reply.digest}: ${reply.code}: ${reply.message}`, { code: reply.code }));
      else download.onChunk(reply);
    },
    onReconnect() {
      for (const d of downloads.values()) d.resume();
    },
    async close() {
      await Promise.all([...downloads.values()].map((d) => d.cancel(new ArtifactError("artifact_unreachable", "the proplet is closing"))));
    },
  };
}

function checkLayout(location: MqttLocation, maxBytes: number, size: number | undefined): void {
  if (location.size > maxBytes) {
    throw new ArtifactError("artifact_too_large", `the artifact is ${location.size} bytes; this proplet accepts at most ${maxBytes}`, { size: location.size, maxBytes });
  }
  if (Math.ceil(location.size / location.chunkSize) !== location.chunks) {
    throw new ArtifactError("artifact_invalid", `${location.size} bytes in chunks of ${location.chunkSize} are ${Math.ceil(location.size / location.chunkSize)} chunks, not ${location.chunks}`);
  }
  if (size !== undefined && size !== location.size) throw new ArtifactError("artifact_invalid", `the task says ${size} bytes but the delivery says ${location.size}`);
}

interface Waiter {
  resolve(bytes: Uint8Array): void;
  reject(err: Error): void;
}

class Download {
  private readonly have: Uint8Array;
  private readonly attempts: Uint16Array;
  /** index → when it was last asked for */
  private readonly outstanding = new Map<number, number>();
  /** indices to ask again (timed out, corrupt, lost in a reconnect), before fresh ones */
  private readonly retry: number[] = [];
  private nextFresh = 0;
  private received = 0;
  private readonly writes = new Set<Promise<void>>();
  private readonly waiters = new Set<Waiter>();
  private file: Promise<FileHandle> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly deadline: number;
  private readonly path: string;
  private ended = false;
  private requesting = false;

  constructor(
    private readonly digest: string,
    private readonly layout: MqttLocation,
    private readonly options: MqttSourceOptions,
    private readonly stats: MqttSourceStats,
    private readonly forget: () => void,
  ) {
    this.have = new Uint8Array(layout.chunks);
    this.attempts = new Uint16Array(layout.chunks);
    this.deadline = Date.now() + options.timeoutMs;
    this.path = join(options.dir, `${digest.replace(/^sha256:/, "")}.${layout.chunkSize}.part`);
  }

  sameLayout(l: MqttLocation): boolean {
    return l.size === this.layout.size && l.chunkSize === this.layout.chunkSize && l.chunks === this.layout.chunks;
  }

  describe(): string {
    return `${this.layout.size} bytes in ${this.layout.chunks} chunks of ${this.layout.chunkSize}`;
  }

  start(): void {
    this.file = mkdir(this.options.dir, { recursive: true, mode: 0o700 }).then(() => open(this.path, "w+", 0o600));
    this.file.catch((err: unknown) => this.fail(new ArtifactError("artifact_unreachable", `cannot write ${this.path}: ${messageOf(err)}`)));
    const every = Math.max(25, Math.floor(this.options.chunkTimeoutMs / 4));
    this.timer = setInterval(() => this.tick(), every);
    this.timer.unref();
    this.options.logger?.debug({ digest: this.digest, chunks: this.layout.chunks, chunkSize: this.layout.chunkSize }, "chunked artifact download started");
    this.pump();
  }

  join(signal: AbortSignal): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (b) => {
          signal.removeEventListener("abort", onAbort);
          resolve(b);
        },
        reject: (e) => {
          signal.removeEventListener("abort", onAbort);
          reject(e);
        },
      };
      const onAbort = () => {
        this.waiters.delete(waiter);
        reject(new ArtifactError("artifact_unreachable", "fetching the artifact was aborted"));
        // The last run waiting for it is gone: nobody needs the bytes.
        if (this.waiters.size === 0) void this.cancel(new ArtifactError("artifact_unreachable", "no run needs the artifact any more"));
      };
      this.waiters.add(waiter);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  onChunk(m: Extract<ArtifactChunkReply, { kind: "artifact.chunk" }>): void {
    if (this.ended) return;
    const { index } = m;
    if (m.total !== this.layout.chunks || index >= this.layout.chunks) {
      this.stats.corrupt++;
      this.options.logger?.warn({ digest: this.digest, index, total: m.total }, "chunk outside the artifact's layout; ignored");
      return;
    }
    if (this.have[index]) {
      this.stats.duplicates++;
      return;
    }
    const data = Buffer.from(m.data, "base64");
    const expectedLength = index === this.layout.chunks - 1 ? this.layout.size - index * this.layout.chunkSize : this.layout.chunkSize;
    if (data.byteLength !== expectedLength || sha256Digest(data) !== m.sha256) {
      this.stats.corrupt++;
      this.options.logger?.warn({ digest: this.digest, index, bytes: data.byteLength, expectedLength }, "corrupt chunk; asking again");
      this.outstanding.delete(index);
      this.again(index);
      this.pump();
      return;
    }
    this.have[index] = 1;
    this.outstanding.delete(index);
    this.stats.chunks++;
    const write = this.write(index, data);
    this.writes.add(write);
    void write.finally(() => this.writes.delete(write));
    this.pump();
  }

  /** After a reconnect: everything outstanding may have been lost with the old connection. */
  resume(): void {
    if (this.ended) return;
    for (const index of [...this.outstanding.keys()].sort((a, b) => b - a)) {
      this.outstanding.delete(index);
      this.retry.unshift(index);
      this.stats.rerequests++;
    }
    this.pump();
  }

  fail(err: Error): void {
    void this.cancel(err);
  }

  async cancel(err: Error): Promise<void> {
    if (this.ended) return;
    this.end();
    const waiters = [...this.waiters];
    this.waiters.clear();
    await this.discard(); // before anyone hears of the failure: nothing partial is left behind
    for (const w of waiters) w.reject(err);
  }

  private end(): void {
    this.ended = true;
    clearInterval(this.timer);
    this.forget();
  }

  private async discard(): Promise<void> {
    await Promise.allSettled([...this.writes]);
    const fh = await this.file?.catch(() => undefined);
    await fh?.close().catch(() => undefined);
    await rm(this.path, { force: true }).catch(() => undefined);
  }

  private async write(index: number, data: Buffer): Promise<void> {
    try {
      const fh = await this.file!;
      await fh.write(data, 0, data.byteLength, index * this.layout.chunkSize);
    } catch (err) {
      this.fail(new ArtifactError("artifact_unreachable", `cannot write chunk ${index} to ${this.path}: ${messageOf(err)}`));
      return;
    }
    this.received++;
    if (this.received === this.layout.chunks) await this.complete();
  }

  private async complete(): Promise<void> {
    if (this.ended) return;
    this.end();
    let bytes: Buffer | undefined;
    let error: Error | undefined;
    try {
      const fh = await this.file!;
      await fh.close();
      bytes = await readFile(this.path);
      const actual = sha256Digest(bytes);
      if (actual !== this.digest) {
        error = new DigestError("digest_mismatch", `artifact digest mismatch: expected ${this.digest}, the ${this.layout.chunks} chunks received hash to ${actual}`, { expected: this.digest, actual });
      }
    } catch (err) {
      error = new ArtifactError("artifact_unreachable", `cannot read back ${this.path}: ${messageOf(err)}`);
    }
    await rm(this.path, { force: true }).catch(() => undefined);
    const waiters = [...this.waiters];
    this.waiters.clear();
    if (error || !bytes) {
      for (const w of waiters) w.reject(error ?? new Error("no bytes"));
      return;
    }
    this.options.logger?.debug({ digest: this.digest, bytes: bytes.byteLength }, "chunked artifact download complete");
    // Each run gets its own copy: one run can never change the bytes another runs.
    waiters.forEach((w, i) => w.resolve(i === 0 ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : Uint8Array.from(bytes)));
  }

  private again(index: number): void {
    if (!this.have[index] && !this.outstanding.has(index) && !this.retry.includes(index)) {
      this.retry.push(index);
      this.stats.rerequests++;
    }
  }

  private tick(): void {
    if (this.ended) return;
    const now = Date.now();
    if (now > this.deadline) {
      const missing = this.layout.chunks - this.received;
      this.fail(new ArtifactError("artifact_timeout", `artifact ${this.digest} was not delivered over MQTT within ${this.options.timeoutMs} ms (${missing} of ${this.layout.chunks} chunks missing); check that the manager is reachable, then run the task again`));
      return;
    }
    if (!this.options.transport.connected()) return; // nothing can arrive; resume() asks again
    for (const [index, at] of this.outstanding) {
      if (now - at >= this.options.chunkTimeoutMs) {
        this.outstanding.delete(index);
        this.again(index);
      }
    }
    this.pump();
  }

  /** Asks for chunks until `window` are outstanding. */
  private pump(): void {
    if (this.ended || this.requesting || !this.options.transport.connected()) return;
    const room = this.options.window - this.outstanding.size;
    if (room <= 0) return;
    const batch: number[] = [];
    while (batch.length < room) {
      let index: number | undefined = this.retry.shift();
      if (index === undefined) {
        if (this.nextFresh >= this.layout.chunks) break;
        index = this.nextFresh++;
      }
      if (this.have[index] || this.outstanding.has(index)) continue;
      if (++this.attempts[index]! > this.options.maxChunkAttempts) {
        this.fail(new ArtifactError("artifact_corrupt", `chunk ${index} of artifact ${this.digest} was not received intact in ${this.options.maxChunkAttempts} attempts`));
        return;
      }
      batch.push(index);
    }
    if (batch.length === 0) return;
    const now = Date.now();
    for (const index of batch) this.outstanding.set(index, now);
    // One request at a time: its chunks are already counted as outstanding, so nothing is asked twice.
    this.requesting = true;
    this.options.transport
      .request(this.digest, batch)
      .catch((err: unknown) => this.options.logger?.debug({ digest: this.digest, err: messageOf(err) }, "chunk request not sent; asked again after the chunk timeout"))
      .finally(() => {
        this.requesting = false;
        this.pump();
      });
  }
}
