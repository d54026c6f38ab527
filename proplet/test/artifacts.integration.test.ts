import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256Digest, type ArtifactRef } from "../../protocol/index.js";
import { freePort } from "../../testing/net.js";
import { fetchArtifact, httpSource, inlineSource, unsupportedSource, type ArtifactSources } from "../artifacts/index.js";
import { example } from "./helpers.js";

const MAX = 64 * 1024;
let server: Server;
let base: string;
let wasm: Uint8Array;
const sources: ArtifactSources = {
  inline: inlineSource,
  // generous: this machine may be loaded; the stall cases use their own short timeout
  http: httpSource({ timeoutMs: 10_000, maxRedirects: 3 }),
  oci: unsupportedSource("oci"),
  mqtt: unsupportedSource("mqtt"),
};
const impatient: ArtifactSources = { ...sources, http: httpSource({ timeoutMs: 500 }) };
const opts = () => ({ maxBytes: MAX, signal: new AbortController().signal });
const httpRef = (path: string, digest = sha256Digest(wasm)): ArtifactRef => ({ digest, location: { kind: "http", url: `${base}${path}` } });

beforeAll(async () => {
  wasm = await example("hello/hello.wasm");
  server = createServer((req, res) => {
    const path = req.url ?? "/";
    if (path === "/hello.wasm") return res.end(Buffer.from(wasm));
    if (path === "/redirect") return res.writeHead(302, { location: "/hello.wasm" }).end();
    if (path === "/loop") return res.writeHead(302, { location: "/loop" }).end();
    if (path === "/to-file") return res.writeHead(302, { location: "file:///etc/passwd" }).end();
    if (path === "/missing") return res.writeHead(404).end("no");
    if (path === "/big-declared") return res.writeHead(200, { "content-length": String(MAX + 1) }).end(Buffer.alloc(MAX + 1));
    if (path === "/big-streamed") {
      // No Content-Length: chunked, and far more than the cap; the client must stop reading.
      res.writeHead(200);
      let sent = 0;
      const pump = () => {
        while (sent < 50 * MAX) {
          sent += 8192;
          if (!res.write(Buffer.alloc(8192))) return void res.once("drain", pump);
        }
        res.end();
      };
      res.on("error", () => undefined);
      return pump();
    }
    if (path === "/stall-body") {
      res.writeHead(200);
      res.write(Buffer.alloc(100)); // then silence, connection held open
      return;
    }
    if (path === "/stall-headers") return; // never answers
    res.writeHead(500).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const address = server.address();
  base = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

async function failure(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error("expected a failure");
}

describe("artifact sources", () => {
  it("inline: decodes and verifies the digest", async () => {
    const bytes = await fetchArtifact({ digest: sha256Digest(wasm), location: { kind: "inline", data: Buffer.from(wasm).toString("base64") } }, sources, { ...opts(), maxBytes: 1 << 20 });
    expect(Buffer.from(bytes).equals(Buffer.from(wasm))).toBe(true);
  });

  it("inline: a wrong digest is digest_mismatch", async () => {
    const e = await failure(fetchArtifact({ digest: sha256Digest("other"), location: { kind: "inline", data: Buffer.from(wasm).toString("base64") } }, sources, { ...opts(), maxBytes: 1 << 20 }));
    expect(e.code).toBe("digest_mismatch");
  });

  it("inline: over the cap is artifact_too_large, before decoding", async () => {
    const data = Buffer.alloc(MAX + 3).toString("base64");
    const e = await failure(fetchArtifact({ digest: sha256Digest("x"), location: { kind: "inline", data } }, sources, opts()));
    expect(e.code).toBe("artifact_too_large");
  });

  it("http: fetches, follows a bounded number of redirects, verifies the digest", async () => {
    const bytes = await fetchArtifact(httpRef("/redirect"), sources, { ...opts(), maxBytes: 1 << 20 });
    expect(sha256Digest(bytes)).toBe(sha256Digest(wasm));
    expect((await failure(fetchArtifact(httpRef("/loop"), sources, opts()))).message).toMatch(/more than 3 redirects/);
    expect((await failure(fetchArtifact(httpRef("/to-file"), sources, opts()))).code).toBe("artifact_invalid");
    expect((await failure(fetchArtifact(httpRef("/hello.wasm", sha256Digest("x")), sources, { ...opts(), maxBytes: 1 << 20 }))).code).toBe("digest_mismatch");
  });

  it("http: HTTP errors, oversize (declared and streamed), stalls and unreachable hosts each fail clearly", async () => {
    const e404 = await failure(fetchArtifact(httpRef("/missing"), sources, opts()));
    expect(e404.code).toBe("artifact_http_status");
    expect(e404.message).toMatch(/HTTP 404/);
    expect((await failure(fetchArtifact(httpRef("/big-declared"), sources, opts()))).code).toBe("artifact_too_large");
    const streamed = await failure(fetchArtifact(httpRef("/big-streamed"), sources, opts()));
    expect(streamed.code).toBe("artifact_too_large");
    expect(streamed.message).toMatch(/sent more than/);
    const t0 = Date.now();
    const stalled = await failure(fetchArtifact(httpRef("/stall-body"), impatient, opts()));
    expect(stalled.code).toBe("artifact_timeout");
    expect(stalled.message).toMatch(/sent nothing for 500 ms \(after 100 bytes\)/);
    expect((await failure(fetchArtifact(httpRef("/stall-headers"), impatient, opts()))).code).toBe("artifact_timeout");
    expect(Date.now() - t0).toBeLessThan(8000); // two 500 ms timeouts, not the 10 s default
    const port = await freePort();
    const unreachable = await failure(fetchArtifact({ digest: sha256Digest(wasm), location: { kind: "http", url: `http://127.0.0.1:${port}/x.wasm` } }, sources, opts()));
    expect(unreachable.code).toBe("artifact_unreachable");
    expect(unreachable.message).toMatch(/ECONNREFUSED/);
  });

  it("http: never echoes credentials from the URL", async () => {
    const e1 = await failure(fetchArtifact(httpRef("/missing?token=SECRET"), sources, opts()));
    expect(e1.code).toBe("artifact_http_status");
    expect(e1.message).not.toMatch(/SECRET/);
    const withUser = { digest: sha256Digest(wasm), location: { kind: "http" as const, url: `${base.replace("http://", "http://user:PASSWORD@")}/hello.wasm` } };
    const e2 = await failure(fetchArtifact(withUser, sources, opts()));
    expect(e2.message).not.toMatch(/PASSWORD/);
  });

  it("a source that is not configured answers unsupported artifact source", async () => {
    const e1 = await failure(fetchArtifact({ digest: sha256Digest(wasm), location: { kind: "oci", reference: "registry/x:1" } }, sources, opts()));
    expect(e1.code).toBe("unsupported_artifact_source");
    expect(e1.message).toMatch(/unsupported artifact source "oci"/);
    const e2 = await failure(fetchArtifact({ digest: sha256Digest(wasm), location: { kind: "mqtt", size: 10, chunkSize: 1024, chunks: 1 } }, sources, opts()));
    expect(e2.code).toBe("unsupported_artifact_source");
  });
});
