import { mkdtemp, readFile, rm, writeFile, utimes } from "node:fs/promises";
import { createServer, request, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256Digest } from "../../protocol/digest.js";
import { startRegistry, type TestRegistry } from "../../testing/registry.js";
import { createMemoryCache, openDiskCache } from "../cache.js";
import { pullWasm, pushWasm } from "../wasm-artifact.js";
import { wasmModule } from "./helpers.js";

let registry: TestRegistry;
let proxy: Server;
let proxyHost: string;
/** Every request that reached the registry through the proxy: "METHOD path". */
const seen: string[] = [];
const dirs: string[] = [];

/** A counting pass-through in front of the real registry: the count is what went over the wire. */
beforeAll(async () => {
  registry = await startRegistry();
  proxy = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const upstream = request({ host: "127.0.0.1", port: registry.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  proxyHost = `127.0.0.1:${(proxy.address() as { port: number }).port}`;
});
afterAll(async () => {
  proxy?.closeAllConnections();
  await new Promise((r) => proxy?.close(() => r(undefined)));
  await registry?.dispose();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "propeller-oci-cache-"));
  dirs.push(d);
  return d;
}

describe("content cache with pullWasm", () => {
  it("a second pull is served from the cache: by tag one manifest request, by digest none", async () => {
    const wasm = wasmModule(20_000);
    const pushed = await pushWasm(`${registry.host}/c/app:1`, wasm, { insecureRegistries: [registry.host] });
    const cache = await openDiskCache({ dir: await tempDir(), maxBytes: 10 * 1024 * 1024 });
    const opts = { insecureRegistries: [proxyHost], cache };

    seen.length = 0;
    const first = await pullWasm(`${proxyHost}/c/app:1`, opts);
    expect(seen).toEqual([`GET /v2/c/app/manifests/1`, `GET /v2/c/app/blobs/${pushed.layerDigest}`]);

    seen.length = 0;
    const second = await pullWasm(`${proxyHost}/c/app:1`, opts);
    expect(seen).toEqual([`GET /v2/c/app/manifests/1`]); // tags move: always asked
    expect(Buffer.from(second.bytes).equals(Buffer.from(first.bytes))).toBe(true);

    seen.length = 0;
    const third = await pullWasm(`${proxyHost}/c/app@${pushed.manifestDigest}`, opts);
    expect(seen).toEqual([]);
    expect(third.digest).toBe(sha256Digest(wasm));
    expect(cache.stats().hits).toBeGreaterThanOrEqual(3);
  });

  it("a corrupted cache entry is not served: deleted, fetched again from the registry", async () => {
    const wasm = wasmModule(5000);
    const pushed = await pushWasm(`${registry.host}/c/corrupt:1`, wasm, { insecureRegistries: [registry.host] });
    const dir = await tempDir();
    const cache = await openDiskCache({ dir, maxBytes: 10 * 1024 * 1024 });
    const opts = { insecureRegistries: [proxyHost], cache };
    await pullWasm(`${proxyHost}/c/corrupt:1`, opts);

    const entry = join(dir, "sha256", pushed.layerDigest.slice(7));
    const bytes = await readFile(entry);
    bytes[100] = bytes[100]! ^ 0x01;
    await writeFile(entry, bytes);

    seen.length = 0;
    const again = await pullWasm(`${proxyHost}/c/corrupt:1`, opts);
    expect(Buffer.from(again.bytes).equals(Buffer.from(wasm))).toBe(true);
    expect(seen).toContain(`GET /v2/c/corrupt/blobs/${pushed.layerDigest}`);
    expect(cache.stats().corrupt).toBe(1);
    // The refetched copy replaced the bad one.
    expect(Buffer.from(await readFile(entry)).equals(Buffer.from(wasm))).toBe(true);
  });
});

describe("disk cache", () => {
  const entry = (n: number) => {
    const b = new Uint8Array(1000).fill(n);
    return { bytes: b, digest: sha256Digest(b) };
  };

  it("evicts the least recently used entries to stay within its byte bound, across a reopen", async () => {
    const dir = await tempDir();
    const cache = await openDiskCache({ dir, maxBytes: 3000 });
    const [a, b, c, d] = [entry(1), entry(2), entry(3), entry(4)];
    await cache.put(a.digest, a.bytes);
    await cache.put(b.digest, b.bytes);
    await cache.put(c.digest, c.bytes);
    expect(await cache.get(a.digest)).toBeDefined(); // a is now the most recent
    await cache.put(d.digest, d.bytes); // over 3000: b (least recent) goes
    expect(cache.stats()).toMatchObject({ entries: 3, bytes: 3000, evictions: 1 });
    expect(await cache.get(b.digest)).toBeUndefined();
    expect(await cache.get(a.digest)).toBeDefined();

    // Reopened with a smaller bound: recency came from mtimes, so the oldest go first.
    const old = new Date(Date.now() - 60_000);
    await utimes(join(dir, "sha256", c.digest.slice(7)), old, old);
    const reopened = await openDiskCache({ dir, maxBytes: 2000 });
    expect(reopened.stats()).toMatchObject({ entries: 2, bytes: 2000 });
    expect(await reopened.get(c.digest)).toBeUndefined();
    expect(await reopened.get(d.digest)).toBeDefined();
  });

  it("refuses to store content under a digest it does not hash to; does not keep entries over the bound", async () => {
    const cache = await openDiskCache({ dir: await tempDir(), maxBytes: 1500 });
    const a = entry(5);
    await expect(cache.put(sha256Digest("other"), a.bytes)).rejects.toMatchObject({ code: "digest_mismatch" });
    const big = new Uint8Array(2000).fill(9);
    await cache.put(sha256Digest(big), big);
    expect(cache.stats().entries).toBe(0);
  });

  it("a file replaced by one of another size is not read and not served", async () => {
    const dir = await tempDir();
    const cache = await openDiskCache({ dir, maxBytes: 10_000 });
    const a = entry(6);
    await cache.put(a.digest, a.bytes);
    await writeFile(join(dir, "sha256", a.digest.slice(7)), Buffer.alloc(5000));
    expect(await cache.get(a.digest)).toBeUndefined();
    expect(cache.stats()).toMatchObject({ corrupt: 1, entries: 0, bytes: 0 });
  });
});

describe("memory cache", () => {
  it("is bounded and LRU, and callers cannot mutate what it holds", async () => {
    const cache = createMemoryCache({ maxBytes: 2000 });
    const a = new Uint8Array(1000).fill(1);
    const b = new Uint8Array(1000).fill(2);
    const c = new Uint8Array(1000).fill(3);
    await cache.put(sha256Digest(a), a);
    a[0] = 99; // the caller's buffer, not the cache's
    const got = (await cache.get(sha256Digest(new Uint8Array(1000).fill(1))))!;
    expect(got[0]).toBe(1);
    got[1] = 99;
    expect((await cache.get(sha256Digest(new Uint8Array(1000).fill(1))))![1]).toBe(1);
    await cache.put(sha256Digest(b), b);
    expect(await cache.get(sha256Digest(new Uint8Array(1000).fill(1)))).toBeDefined(); // a: most recent
    await cache.put(sha256Digest(c), c); // b is the least recent: it goes
    expect(await cache.get(sha256Digest(b))).toBeUndefined();
    expect(cache.stats()).toMatchObject({ entries: 2, bytes: 2000, evictions: 1 });
  });
});
