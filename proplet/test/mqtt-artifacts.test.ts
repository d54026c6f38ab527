/**
 * The proplet's chunked MQTT download, driven through its transport seam by a scripted manager that
 * reorders, repeats, drops and corrupts chunks, refuses, or goes silent. The broker itself is
 * exercised end to end in test/e2e/delivery-mqtt.test.ts.
 */
import { readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes, randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { newTraceparent, sha256Digest, type ArtifactChunkReply, type ArtifactRef } from "../../protocol/index.js";
import { fetchArtifact, mqttSource, type MqttSource, type MqttSourceOptions } from "../artifacts/index.js";

const CHUNK = 1024;
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const envelope = () => ({ version: 1 as const, messageId: randomUUID(), timestamp: new Date().toISOString(), traceparent: newTraceparent() });

function chunkOf(bytes: Buffer, index: number): Buffer {
  return bytes.subarray(index * CHUNK, Math.min(bytes.byteLength, (index + 1) * CHUNK));
}

function reply(digest: string, bytes: Buffer, index: number, mutate?: (b: Buffer) => Buffer): ArtifactChunkReply {
  const data = chunkOf(bytes, index);
  const sent = mutate ? mutate(Buffer.from(data)) : data;
  return { ...envelope(), kind: "artifact.chunk", propletId: "p1", digest, index, total: Math.ceil(bytes.byteLength / CHUNK), sha256: sha256Digest(data), data: sent.toString("base64") };
}

/**
 * A scripted manager: `answer` decides, per requested index and per time it was asked, which
 * replies go back (none, one, several; in any order).
 */
function scripted(bytes: Buffer, answer: (index: number, asked: number) => ArtifactChunkReply[], opts: Partial<MqttSourceOptions> = {}) {
  const digest = sha256Digest(bytes);
  const asked = new Map<number, number>();
  let connected = true;
  let outstanding = 0;
  let maxOutstanding = 0;
  const requests: number[][] = [];
  const delivered = new Set<number>();
  const dir = join(tmpdir(), `propeller-mqtt-test-${randomUUID()}`);
  dirs.push(dir);
  const source: MqttSource = mqttSource({
    dir,
    window: 4,
    chunkTimeoutMs: 150,
    timeoutMs: 20_000,
    maxChunkAttempts: 5,
    ...opts,
    transport: {
      connected: () => connected,
      async request(d, indices) {
        expect(d).toBe(digest);
        requests.push(indices);
        outstanding += indices.length;
        maxOutstanding = Math.max(maxOutstanding, outstanding);
        const replies = indices.flatMap((i) => {
          const n = (asked.get(i) ?? 0) + 1;
          asked.set(i, n);
          return answer(i, n);
        });
        // Delivered later and shuffled: out of order within and across requests.
        replies.sort(() => Math.random() - 0.5);
        for (const r of replies) {
          setTimeout(() => {
            if (r.kind === "artifact.chunk") outstanding = Math.max(0, outstanding - 1);
            if (!connected) return;
            if (r.kind === "artifact.chunk") delivered.add(r.index);
            source.onReply(r);
          }, Math.floor(Math.random() * 5));
        }
      },
    },
  });
  const ref: ArtifactRef = { digest, size: bytes.byteLength, location: { kind: "mqtt", size: bytes.byteLength, chunkSize: CHUNK, chunks: Math.ceil(bytes.byteLength / CHUNK) } };
  const fetch = (signal = new AbortController().signal) => fetchArtifact(ref, { mqtt: source }, { maxBytes: 1024 * 1024, signal });
  return {
    source,
    digest,
    dir,
    ref,
    asked,
    requests,
    delivered,
    fetch,
    get maxOutstanding() {
      return maxOutstanding;
    },
    setConnected(value: boolean) {
      connected = value;
    },
  };
}

const artifact = (size: number) => randomBytes(size);
const failure = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error("expected a failure");
};

describe("chunked MQTT download", () => {
  it("out of order and duplicated chunks: the artifact is exact, duplicates ignored, at most `window` outstanding", async () => {
    const bytes = artifact(37 * CHUNK + 123);
    const s = scripted(bytes, (i) => [reply(sha256Digest(bytes), bytes, i), reply(sha256Digest(bytes), bytes, i)]);
    const got = await s.fetch();
    expect(Buffer.from(got).equals(bytes)).toBe(true);
    expect(s.source.stats.duplicates).toBeGreaterThan(0);
    expect(s.source.stats.chunks).toBe(38);
    expect(s.maxOutstanding).toBeLessThanOrEqual(4);
    expect(Math.max(...[...s.asked.values()])).toBe(1); // nothing asked twice
    expect(await readdir(s.dir)).toEqual([]); // the partial file is gone
  });

  it("partial files of an earlier process are cleared before the first download", async () => {
    const bytes = artifact(2 * CHUNK);
    const s = scripted(bytes, (i) => [reply(sha256Digest(bytes), bytes, i)]);
    const { mkdir, writeFile } = await import("node:fs/promises");
    await mkdir(s.dir, { recursive: true });
    await writeFile(join(s.dir, `${"e".repeat(64)}.1024.part`), "left by a crash");
    expect(Buffer.from(await s.fetch()).equals(bytes)).toBe(true);
    expect(await readdir(s.dir)).toEqual([]);
  });

  it("dropped chunks are asked again after the chunk timeout", async () => {
    const bytes = artifact(20 * CHUNK);
    const s = scripted(bytes, (i, n) => (i % 3 === 0 && n === 1 ? [] : [reply(sha256Digest(bytes), bytes, i)]));
    const got = await s.fetch();
    expect(Buffer.from(got).equals(bytes)).toBe(true);
    expect(s.asked.get(0)).toBe(2);
    expect(s.asked.get(1)).toBe(1);
    expect(s.source.stats.rerequests).toBeGreaterThanOrEqual(7);
  });

  it("a corrupted chunk is not written: it is asked again, and the artifact is exact", async () => {
    const bytes = artifact(10 * CHUNK);
    const flip = (b: Buffer) => {
      b[7] = b[7]! ^ 0xff;
      return b;
    };
    const s = scripted(bytes, (i, n) => [reply(sha256Digest(bytes), bytes, i, i === 4 && n === 1 ? flip : undefined)]);
    const got = await s.fetch();
    expect(Buffer.from(got).equals(bytes)).toBe(true);
    expect(s.source.stats.corrupt).toBe(1);
    expect(s.asked.get(4)).toBe(2);
  });

  it("a chunk that never arrives intact fails the download clearly after maxChunkAttempts", async () => {
    const bytes = artifact(6 * CHUNK);
    const s = scripted(bytes, (i) => [reply(sha256Digest(bytes), bytes, i, i === 2 ? (b) => b.subarray(1) : undefined)]);
    const err = await failure(s.fetch());
    expect(err.code).toBe("artifact_corrupt");
    expect(err.message).toMatch(/chunk 2 .* 5 attempts/);
    expect(await readdir(s.dir)).toEqual([]);
  });

  it("chunks that are each intact but not the task's artifact: digest_mismatch, nothing handed out", async () => {
    const bytes = artifact(5 * CHUNK);
    const other = artifact(5 * CHUNK);
    const s = scripted(bytes, (i) => [reply(sha256Digest(bytes), other, i)]);
    const err = await failure(s.fetch());
    expect(err.code).toBe("digest_mismatch");
    expect(await readdir(s.dir)).toEqual([]);
  });

  it("two runs needing the same artifact at once share one download and get separate copies", async () => {
    const bytes = artifact(30 * CHUNK);
    const s = scripted(bytes, (i) => [reply(sha256Digest(bytes), bytes, i)]);
    const [a, b] = await Promise.all([s.fetch(), s.fetch()]);
    expect(s.source.stats.downloads).toBe(1);
    expect(s.source.stats.shared).toBe(1);
    expect(Math.max(...[...s.asked.values()])).toBe(1);
    a.fill(0); // one run scribbling on its copy changes nothing for the other
    expect(Buffer.from(b).equals(bytes)).toBe(true);
  });

  it("a stopped run leaves the download; the other run sharing it still gets the artifact", async () => {
    const bytes = artifact(30 * CHUNK);
    const s = scripted(bytes, (i) => [reply(sha256Digest(bytes), bytes, i)], { window: 1 });
    const stop = new AbortController();
    const first = s.fetch(stop.signal);
    const second = s.fetch();
    stop.abort();
    expect((await failure(first)).code).toBe("artifact_unreachable");
    expect(Buffer.from(await second).equals(bytes)).toBe(true);
  });

  it("resumes after a reconnect without asking again for what arrived", async () => {
    const bytes = artifact(40 * CHUNK);
    let cut = false;
    let before: number[] = [];
    const s = scripted(bytes, (i) => {
      if (i === 12 && !cut) {
        cut = true;
        before = [...s.delivered];
        s.setConnected(false); // the broker goes away: this and later replies are lost
        setTimeout(() => {
          s.setConnected(true);
          s.source.onReconnect();
        }, 400);
      }
      return [reply(sha256Digest(bytes), bytes, i)];
    });
    const got = await s.fetch();
    expect(Buffer.from(got).equals(bytes)).toBe(true);
    // Chunks received before the cut were asked once; only those lost with the connection again.
    expect(before.length).toBeGreaterThanOrEqual(4);
    for (const i of before) expect(s.asked.get(i), `chunk ${i}`).toBe(1);
    expect(Math.max(...[...s.asked.values()])).toBeLessThanOrEqual(3);
  });

  it("an overall timeout fails clearly when the manager never answers", async () => {
    const bytes = artifact(3 * CHUNK);
    const s = scripted(bytes, () => [], { timeoutMs: 400, chunkTimeoutMs: 100, maxChunkAttempts: 1000 });
    const err = await failure(s.fetch());
    expect(err.code).toBe("artifact_timeout");
    expect(err.message).toMatch(/3 of 3 chunks missing/);
  });

  it("a refusal from the manager fails the download with its reason", async () => {
    const bytes = artifact(3 * CHUNK);
    const s = scripted(bytes, () => [{ ...envelope(), kind: "artifact.refused", propletId: "p1", digest: sha256Digest(bytes), code: "not_assigned", message: "no active run of proplet p1 uses it" }]);
    const err = await failure(s.fetch());
    expect(err.code).toBe("artifact_refused");
    expect(err.message).toMatch(/not_assigned/);
  });

  it("refuses layouts that do not add up, and artifacts over the proplet's cap, before asking anything", async () => {
    const bytes = artifact(3 * CHUNK);
    const s = scripted(bytes, (i) => [reply(sha256Digest(bytes), bytes, i)]);
    const bad: ArtifactRef = { ...s.ref, location: { kind: "mqtt", size: bytes.byteLength, chunkSize: CHUNK, chunks: 7 } };
    expect((await failure(fetchArtifact(bad, { mqtt: s.source }, { maxBytes: 1 << 20, signal: new AbortController().signal }))).code).toBe("artifact_invalid");
    expect((await failure(fetchArtifact(s.ref, { mqtt: s.source }, { maxBytes: 100, signal: new AbortController().signal }))).code).toBe("artifact_too_large");
    expect(s.requests).toEqual([]);
  });
});
