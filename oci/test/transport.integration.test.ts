import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import type { Digest } from "../../protocol/digest.js";
import { createOciClient } from "../client.js";
import { messageOf } from "../../lib/errors.js";

/**
 * Misbehaving registries, as node:http servers on loopback (a true network boundary): bodies cut
 * short, 5xx, stalls, redirects, endless bodies, manifests that do not match their digest.
 */
type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const servers: Server[] = [];

async function fake(handler: Handler): Promise<{ host: string; port: number }> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return { host: `127.0.0.1:${port}`, port };
}

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(() => r(undefined)));
  }
});

const sha = (b: Uint8Array | string): Digest => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const blob = Buffer.alloc(100_000, 7);
const blobDigest = sha(blob);

describe("client against misbehaving registries", () => {
  it("a connection closed mid-blob is a truncation error", async () => {
    const { host } = await fake((req, res) => {
      res.writeHead(200, { "content-length": String(blob.length) });
      res.write(blob.subarray(0, 30_000), () => res.socket?.destroy());
    });
    const client = createOciClient({ insecureRegistries: [host] });
    const err = await client.getBlob({ registry: host, repository: "a/b" }, blobDigest).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "oci_truncated" });
  });

  it("a body shorter than the descriptor's size (clean end) is a truncation error", async () => {
    const { host } = await fake((req, res) => {
      res.writeHead(200); // chunked, ends cleanly but early
      res.end(blob.subarray(0, 1000));
    });
    const client = createOciClient({ insecureRegistries: [host] });
    const err = await client.getBlob({ registry: host, repository: "a/b" }, blobDigest, { size: blob.length }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "oci_truncated" });
  });

  it("5xx is a registry error with the status and the registry's error code", async () => {
    const { host } = await fake((req, res) => {
      res.writeHead(503, { "content-type": "application/json" }).end(JSON.stringify({ errors: [{ code: "UNAVAILABLE", message: "maintenance" }] }));
    });
    const client = createOciClient({ insecureRegistries: [host] });
    const err = await client.getManifest({ registry: host, repository: "a/b", tag: "1" }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "oci_registry_error", status: 503 });
    expect(messageOf(err)).toContain("UNAVAILABLE: maintenance");
  });

  it("a body that stalls is a timeout, not a hang", async () => {
    const { host } = await fake((req, res) => {
      res.writeHead(200, { "content-length": String(blob.length) });
      res.write(blob.subarray(0, 10)); // then nothing
    });
    const client = createOciClient({ insecureRegistries: [host], timeoutMs: 300 });
    const started = Date.now();
    const err = await client.getBlob({ registry: host, repository: "a/b" }, blobDigest).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "oci_timeout" });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("headers that never come are a timeout", async () => {
    const { host } = await fake(() => undefined);
    const client = createOciClient({ insecureRegistries: [host], timeoutMs: 300 });
    const err = await client.getManifest({ registry: host, repository: "a/b", tag: "x" }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "oci_timeout" });
  });

  it("an endless body is refused as too large after about the limit, not read to the end", async () => {
    let sent = 0;
    let closed = false;
    const { host } = await fake((req, res) => {
      res.writeHead(200); // no Content-Length: only streaming can catch it
      const chunk = Buffer.alloc(64 * 1024, 1);
      const pump = () => {
        while (!closed && sent < 512 * 1024 * 1024) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", pump);
        }
        res.end();
      };
      res.on("close", () => (closed = true));
      pump();
    });
    const client = createOciClient({ insecureRegistries: [host], maxBlobBytes: 1024 * 1024 });
    const err = await client.getBlob({ registry: host, repository: "a/b" }, blobDigest).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "too_large" });
    await new Promise((r) => setTimeout(r, 100));
    expect(closed).toBe(true);
    expect(sent).toBeLessThan(32 * 1024 * 1024); // socket buffers, not the 512 MiB on offer
  });

  it("a declared Content-Length over the limit is refused before reading", async () => {
    let wrote = false;
    const { host } = await fake((req, res) => {
      res.writeHead(200, { "content-length": String(10 * 1024 * 1024 * 1024) });
      res.flushHeaders();
      setTimeout(() => {
        wrote = true;
        res.write("x");
      }, 500);
    });
    const client = createOciClient({ insecureRegistries: [host], maxBlobBytes: 1024 });
    const err = await client.getBlob({ registry: host, repository: "a/b" }, blobDigest).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "too_large" });
    expect(wrote).toBe(false);
  });

  it("follows blob redirects to storage, without the registry's Authorization", async () => {
    let storageAuth: string | undefined = "unset";
    const storage = await fake((req, res) => {
      storageAuth = req.headers.authorization;
      res.writeHead(200).end(blob);
    });
    const { host } = await fake((req, res) => {
      if (req.headers.authorization !== `Basic ${Buffer.from("u:p").toString("base64")}`) {
        res.writeHead(401, { "www-authenticate": 'Basic realm="r"' }).end();
        return;
      }
      res.writeHead(307, { location: `http://${storage.host}/bucket/data?sig=1` }).end();
    });
    const client = createOciClient({ insecureRegistries: [host, storage.host], credentials: () => ({ username: "u", password: "p" }) });
    const bytes = await client.getBlob({ registry: host, repository: "a/b" }, blobDigest);
    expect(Buffer.from(bytes).equals(blob)).toBe(true);
    expect(storageAuth).toBeUndefined();
  });

  it("a redirect loop stops at the bound", async () => {
    let hits = 0;
    const { host } = await fake((req, res) => {
      hits++;
      res.writeHead(302, { location: `/v2/a/b/blobs/${blobDigest}?n=${hits}` }).end();
    });
    const client = createOciClient({ insecureRegistries: [host], maxRedirects: 3 });
    const err = await client.getBlob({ registry: host, repository: "a/b" }, blobDigest).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "oci_too_many_redirects" });
    expect(hits).toBe(4);
  });

  it("a redirect from HTTPS-only land to plain HTTP elsewhere is refused", async () => {
    const { host } = await fake((req, res) => {
      res.writeHead(307, { location: "http://127.0.0.1:9/elsewhere" }).end();
    });
    const client = createOciClient({ insecureRegistries: [host] });
    const err = await client.getBlob({ registry: host, repository: "a/b" }, blobDigest).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "oci_insecure_refused" });
  });

  it("a manifest pulled by digest must hash to it; by tag, to the registry's Docker-Content-Digest", async () => {
    const real = JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json" });
    const other = JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", x: 1 });
    const { host } = await fake((req, res) => {
      res.writeHead(200, { "content-type": "application/vnd.oci.image.manifest.v1+json", "docker-content-digest": sha(real) }).end(other);
    });
    const client = createOciClient({ insecureRegistries: [host] });
    const byDigest = await client.getManifest({ registry: host, repository: "a/b", digest: sha(real) }).catch((e: unknown) => e);
    expect(byDigest).toMatchObject({ code: "digest_mismatch" });
    const byTag = await client.getManifest({ registry: host, repository: "a/b", tag: "1" }).catch((e: unknown) => e);
    expect(byTag).toMatchObject({ code: "digest_mismatch" });
  });

  it("an unreachable registry is a clear error", async () => {
    const { host } = await fake(() => undefined);
    servers[0]!.close();
    const client = createOciClient({ insecureRegistries: [host], timeoutMs: 2000 });
    const err = await client.getManifest({ registry: host, repository: "a/b", tag: "1" }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "oci_unreachable" });
  });
});

describe("cancellation", () => {
  it("the caller's AbortSignal stops a blob download mid-body with oci_cancelled", async () => {
    const { host } = await fake((req, res) => {
      res.writeHead(200, { "content-length": String(blob.length) });
      res.write(blob.subarray(0, 10)); // then waits
    });
    const client = createOciClient({ insecureRegistries: [host], timeoutMs: 10_000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const started = Date.now();
    const err = await client.getBlob({ registry: host, repository: "a/b" }, blobDigest, { signal: controller.signal }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "oci_cancelled" });
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
