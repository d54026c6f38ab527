import { readFile, writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encryptWorkload } from "../../protocol/workload-encryption.js";
import { sha256Digest } from "../../protocol/digest.js";
import { registryBlobPath, startRegistry, type TestRegistry } from "../../testing/registry.js";
import { createOciClient } from "../client.js";
import { parseManifest } from "../manifest.js";
import {
  ANNOTATION_KBS_RESOURCE,
  ANNOTATION_PLAINTEXT_DIGEST,
  ENCRYPTED_WASM_LAYER_MEDIA_TYPE,
  pullWasm,
  pushWasm,
  WASM_CONFIG_MEDIA_TYPE,
  WASM_LAYER_MEDIA_TYPE,
} from "../wasm-artifact.js";
import { wasmModule } from "./helpers.js";
import { messageOf } from "../../lib/errors.js";

let registry: TestRegistry;
let opts: { insecureRegistries: string[] };

beforeAll(async () => {
  registry = await startRegistry();
  opts = { insecureRegistries: [registry.host] };
});
afterAll(async () => {
  await registry?.dispose();
});

describe("Wasm artifacts against docker-registry (distribution 2.8)", () => {
  it("pushes, then pulls by tag and by digest: identical bytes, digests reported", async () => {
    const wasm = wasmModule(4096);
    const ref = `${registry.host}/apps/hello:1.0`;
    const pushed = await pushWasm(ref, wasm, { ...opts, title: "hello.wasm" });
    expect(pushed.pinned).toBe(`${registry.host}/apps/hello@${pushed.manifestDigest}`);
    expect(pushed.layerDigest).toBe(sha256Digest(wasm));

    const byTag = await pullWasm(ref, opts);
    expect(Buffer.from(byTag.bytes).equals(Buffer.from(wasm))).toBe(true);
    expect(byTag.digest).toBe(sha256Digest(wasm));
    expect(byTag.manifestDigest).toBe(pushed.manifestDigest);
    expect(byTag.encrypted).toBeNull();

    const byDigest = await pullWasm(pushed.pinned, opts);
    expect(Buffer.from(byDigest.bytes).equals(Buffer.from(wasm))).toBe(true);
    expect(byDigest.manifestDigest).toBe(pushed.manifestDigest);
  });

  it("writes the CNCF layout: OCI manifest, wasm config media type and config, application/wasm layer", async () => {
    const wasm = wasmModule(100);
    const pushed = await pushWasm(`${registry.host}/apps/layout:v1`, wasm, opts);
    const client = createOciClient(opts);
    const repo = { registry: registry.host, repository: "apps/layout" };
    const fetched = await client.getManifest({ ...repo, tag: "v1" });
    expect(fetched.digest).toBe(pushed.manifestDigest);
    expect(fetched.contentType).toBe("application/vnd.oci.image.manifest.v1+json");
    const parsed = parseManifest(fetched.bytes, fetched.contentType, "m");
    if (parsed.kind !== "manifest") throw new Error("expected a manifest");
    expect(parsed.mediaType).toBe("application/vnd.oci.image.manifest.v1+json");
    expect(parsed.manifest.config.mediaType).toBe(WASM_CONFIG_MEDIA_TYPE);
    expect(parsed.manifest.layers).toHaveLength(1);
    expect(parsed.manifest.layers[0]!.mediaType).toBe(WASM_LAYER_MEDIA_TYPE);
    expect(parsed.manifest.layers[0]!.size).toBe(wasm.byteLength);
    const config = JSON.parse(Buffer.from(await client.getBlob(repo, parsed.manifest.config.digest as `sha256:${string}`)).toString());
    expect(config).toMatchObject({ architecture: "wasm", os: "wasip1", layerDigests: [sha256Digest(wasm)] });
    expect(Date.parse(config.created)).not.toBeNaN();
  });

  it("an encrypted push carries its own layer media type and the KBS and plaintext annotations", async () => {
    const plaintext = wasmModule(200);
    const enc = await encryptWorkload(plaintext);
    const kbsResource = "kbs:///default/wasm/hello";
    const pushed = await pushWasm(`${registry.host}/apps/secret:1`, enc.ciphertext, {
      ...opts,
      encrypted: { kbsResource, plaintextDigest: enc.plaintextDigest },
    });
    const pulled = await pullWasm(`${registry.host}/apps/secret:1`, opts);
    expect(pulled.manifestDigest).toBe(pushed.manifestDigest);
    expect(pulled.layerMediaType).toBe(ENCRYPTED_WASM_LAYER_MEDIA_TYPE);
    expect(pulled.encrypted).toEqual({ kbsResource, plaintextDigest: enc.plaintextDigest });
    expect(pulled.annotations[ANNOTATION_KBS_RESOURCE]).toBe(kbsResource);
    expect(pulled.annotations[ANNOTATION_PLAINTEXT_DIGEST]).toBe(sha256Digest(plaintext));
    expect(Buffer.from(pulled.bytes).equals(Buffer.from(enc.ciphertext))).toBe(true);
  });

  it("a second push of the same content skips the blobs the registry already has", async () => {
    const wasm = wasmModule(300);
    const created = new Date("2026-01-01T00:00:00Z");
    const first = await pushWasm(`${registry.host}/apps/again:a`, wasm, { ...opts, created });
    expect(first.skippedBlobs).toEqual([]);
    const second = await pushWasm(`${registry.host}/apps/again:b`, wasm, { ...opts, created });
    expect(second.skippedBlobs.sort()).toEqual([first.configDigest, first.layerDigest].sort());
    expect(second.manifestDigest).toBe(first.manifestDigest);
  });

  it("a missing tag is a 404 error that names it", async () => {
    await pushWasm(`${registry.host}/apps/present:1`, wasmModule(10), opts);
    const err = await pullWasm(`${registry.host}/apps/present:nope`, opts).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "oci_manifest_unknown" });
    expect(messageOf(err)).toContain(`${registry.host}/apps/present:nope`);
    const missingRepo = await pullWasm(`${registry.host}/apps/absent:1`, opts).catch((e: unknown) => e);
    expect(missingRepo).toMatchObject({ code: expect.stringMatching(/^oci_(repository|manifest)_unknown$/) });
  });

  it("a blob tampered on the registry's disk is a digest mismatch and returns nothing", async () => {
    const wasm = wasmModule(1024);
    const pushed = await pushWasm(`${registry.host}/apps/tamper:1`, wasm, opts);
    const path = registryBlobPath(registry.storageDir, pushed.layerDigest);
    const stored = await readFile(path);
    expect(stored.equals(Buffer.from(wasm))).toBe(true);
    stored[stored.length - 1] = stored[stored.length - 1]! ^ 0xff; // same size, one flipped byte
    await writeFile(path, stored);
    const err = await pullWasm(`${registry.host}/apps/tamper:1`, opts).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "digest_mismatch" });
    expect(messageOf(err)).toContain(pushed.layerDigest);
  });

  it("a layer over the limit is refused from the descriptor, and a lying descriptor while streaming", async () => {
    const wasm = wasmModule(200_000);
    const pushed = await pushWasm(`${registry.host}/apps/big:1`, wasm, opts);
    const err = await pullWasm(`${registry.host}/apps/big:1`, { ...opts, maxBytes: 100_000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "too_large" });
    // The client itself caps while streaming: ask for the blob with a smaller cap than its size.
    const client = createOciClient({ ...opts, maxBlobBytes: 50_000 });
    const streamed = await client.getBlob({ registry: registry.host, repository: "apps/big" }, pushed.layerDigest).catch((e: unknown) => e);
    expect(streamed).toMatchObject({ code: "too_large" });
  });

  it("refuses plain HTTP to a registry not listed as insecure", async () => {
    const err = await pullWasm(`${registry.host}/apps/hello:1.0`, { timeoutMs: 2000 }).catch((e: unknown) => e);
    // HTTPS to a plain-HTTP port fails the TLS handshake: never silently downgraded.
    expect(err).toMatchObject({ code: "oci_unreachable" });
    expect(messageOf(err)).toMatch(/insecure/);
  });
});

describe("manifest shapes", () => {
  it("follows an index to its one Wasm manifest; refuses an index with two; refuses a container image", async () => {
    const client = createOciClient({ insecureRegistries: [registry.host] });
    const repo = { registry: registry.host, repository: "apps/multi" };
    const a = await pushWasm(`${registry.host}/apps/multi:a`, wasmModule(50), opts);
    const b = await pushWasm(`${registry.host}/apps/multi:b`, wasmModule(60), opts);
    const sizeOf = async (tag: string) => (await client.getManifest({ ...repo, tag })).bytes.byteLength;
    const entry = async (tag: string, digest: string) => ({
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest,
      size: await sizeOf(tag),
      platform: { architecture: "wasm", os: "wasip1" },
    });
    const index = (manifests: unknown[]) =>
      Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests }));
    await client.putManifest(repo, "one", index([await entry("a", a.manifestDigest)]), "application/vnd.oci.image.index.v1+json");
    const pulled = await pullWasm(`${registry.host}/apps/multi:one`, opts);
    expect(pulled.manifestDigest).toBe(a.manifestDigest);
    expect(pulled.digest).toBe(a.layerDigest);

    await client.putManifest(repo, "two", index([await entry("a", a.manifestDigest), await entry("b", b.manifestDigest)]), "application/vnd.oci.image.index.v1+json");
    await expect(pullWasm(`${registry.host}/apps/multi:two`, opts)).rejects.toMatchObject({ code: "oci_not_wasm" });

    // An ordinary container-image-shaped manifest (OCI image config, tar layer).
    const cfg = Buffer.from("{}");
    const layer = Buffer.from("not a tarball");
    const c = await client.pushBlob(repo, cfg);
    const l = await client.pushBlob(repo, layer);
    const image = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: c.digest, size: cfg.length },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: l.digest, size: layer.length }],
    }));
    await client.putManifest(repo, "image", image, "application/vnd.oci.image.manifest.v1+json");
    const err = await pullWasm(`${registry.host}/apps/multi:image`, opts).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "oci_not_wasm" });
    expect(messageOf(err)).toContain("application/vnd.oci.image.config.v1+json");
  });

  it("refuses an application/wasm layer that is not Wasm, and an encrypted layer without its annotations", async () => {
    const client = createOciClient({ insecureRegistries: [registry.host] });
    const repo = { registry: registry.host, repository: "apps/hand" };
    const cfg = Buffer.from("{}");
    const c = await client.pushBlob(repo, cfg);
    const put = async (tag: string, layerBytes: Uint8Array, mediaType: string) => {
      const l = await client.pushBlob(repo, layerBytes);
      const m = Buffer.from(JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: WASM_CONFIG_MEDIA_TYPE, digest: c.digest, size: cfg.length },
        layers: [{ mediaType, digest: l.digest, size: layerBytes.byteLength }],
      }));
      await client.putManifest(repo, tag, m, "application/vnd.oci.image.manifest.v1+json");
    };
    await put("garbage", Buffer.from("#!/bin/sh\necho not wasm\n"), WASM_LAYER_MEDIA_TYPE);
    await expect(pullWasm(`${registry.host}/apps/hand:garbage`, opts)).rejects.toMatchObject({ code: "oci_not_wasm", message: expect.stringMatching(/not a Wasm binary/) });
    await put("bare-age", (await encryptWorkload(wasmModule(5))).ciphertext, ENCRYPTED_WASM_LAYER_MEDIA_TYPE);
    await expect(pullWasm(`${registry.host}/apps/hand:bare-age`, opts)).rejects.toMatchObject({ code: "oci_manifest_invalid", message: expect.stringMatching(/kbs-resource/) });
  });

  it("HEAD reports a manifest's digest, and null for a missing one", async () => {
    const client = createOciClient({ insecureRegistries: [registry.host] });
    const pushed = await pushWasm(`${registry.host}/apps/head:1`, wasmModule(20), opts);
    const head = await client.headManifest({ registry: registry.host, repository: "apps/head", tag: "1" });
    expect(head?.digest).toBe(pushed.manifestDigest);
    expect(await client.headManifest({ registry: registry.host, repository: "apps/head", tag: "2" })).toBeNull();
    expect(await client.headBlob({ registry: registry.host, repository: "apps/head" }, pushed.layerDigest)).toEqual({ size: 8 + 2 + 15 + 20 });
  });
});
