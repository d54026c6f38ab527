import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRegistry, type TestRegistry } from "../../testing/registry.js";
import { createTokenCache, parseChallenge, tokenCacheKey } from "../auth.js";
import { createOciClient } from "../client.js";
import { pullWasm, pushWasm } from "../wasm-artifact.js";
import { wasmModule } from "./helpers.js";
import { startTokenServer, type TokenServer } from "./token-server.js";
import { messageOf } from "../../lib/errors.js";

const logger = pino({ level: "silent" });

describe("basic auth (docker-registry with an htpasswd file)", () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startRegistry({ auth: { kind: "htpasswd", username: "alice", password: "correct horse" } });
  });
  afterAll(async () => {
    await registry?.dispose();
  });

  it("no credentials: 401 error that says credentials are required", async () => {
    const err = await pushWasm(`${registry.host}/team/app:1`, wasmModule(), { insecureRegistries: [registry.host], logger }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "oci_unauthorized" });
    expect(messageOf(err)).toMatch(/requires credentials/);
  });

  it("wrong password: 401 error that says the credentials were rejected", async () => {
    const err = await pullWasm(`${registry.host}/team/app:1`, {
      insecureRegistries: [registry.host],
      credentials: () => ({ username: "alice", password: "wrong" }),
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "oci_unauthorized" });
    expect(messageOf(err)).toMatch(/rejected the credentials/);
  });

  it("right credentials: push and pull work", async () => {
    const wasm = wasmModule(500);
    const opts = { insecureRegistries: [registry.host], credentials: (r: string) => (r === registry.host ? { username: "alice", password: "correct horse" } : undefined) };
    const pushed = await pushWasm(`${registry.host}/team/app:2`, wasm, opts);
    const pulled = await pullWasm(`${registry.host}/team/app:2`, opts);
    expect(pulled.manifestDigest).toBe(pushed.manifestDigest);
    expect(Buffer.from(pulled.bytes).equals(Buffer.from(wasm))).toBe(true);
  });
});

describe("bearer tokens (docker-registry trusting a token server of the test's own)", () => {
  let registry: TestRegistry;
  let tokens: TokenServer;
  beforeAll(async () => {
    tokens = await startTokenServer({ bob: "s3cret" });
    registry = await startRegistry({
      auth: { kind: "token", realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertPem: tokens.rootCertPem },
    });
  });
  afterAll(async () => {
    await registry?.dispose();
    await tokens?.close();
  });

  it("follows the challenge to the token endpoint with basic credentials; caches the token per scope", async () => {
    const client = createOciClient({
      insecureRegistries: [registry.host, tokens.host],
      credentials: () => ({ username: "bob", password: "s3cret" }),
    });
    const wasm = wasmModule(700);
    const pushed = await pushWasm(`${registry.host}/team/tok:1`, wasm, { client });
    const before = tokens.requests.length;
    expect(before).toBeGreaterThan(0);
    expect(tokens.requests.every((r) => r.user === "bob")).toBe(true);
    // distribution lists the actions in random order (pull,push or push,pull): compare them sorted.
    const sorted = (scope: string | null) => scope?.replace(/:([a-z,]+)$/, (_, a: string) => `:${a.split(",").sort().join(",")}`);
    expect(new Set(tokens.requests.map((r) => sorted(r.scope)))).toEqual(new Set(["repository:team/tok:pull", "repository:team/tok:pull,push"]));

    const first = await pullWasm(`${registry.host}/team/tok:1`, { client });
    const second = await pullWasm(`${registry.host}/team/tok:1`, { client });
    expect(first.manifestDigest).toBe(pushed.manifestDigest);
    expect(Buffer.from(second.bytes).equals(Buffer.from(wasm))).toBe(true);
    // The pull scope token from the push is still valid: no new token request at all.
    expect(tokens.requests.length).toBe(before);
  });

  it("wrong password at the token endpoint: 401 error naming the token endpoint", async () => {
    const err = await pullWasm(`${registry.host}/team/tok:1`, {
      insecureRegistries: [registry.host, tokens.host],
      credentials: () => ({ username: "bob", password: "nope" }),
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "oci_unauthorized" });
    expect(messageOf(err)).toMatch(/token endpoint .* refused the credentials of "bob"/);
  });

  it("never sends credentials to a plain-HTTP realm that is not listed as insecure", async () => {
    const before = tokens.requests.length;
    const err = await pullWasm(`${registry.host}/team/tok:1`, {
      insecureRegistries: [registry.host],
      credentials: () => ({ username: "bob", password: "s3cret" }),
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "oci_insecure_refused" });
    expect(tokens.requests.length).toBe(before);
  });
});

describe("challenge parsing and the token cache", () => {
  it("parses bearer challenges with quoted commas and escapes; basic; rejects other schemes", () => {
    expect(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"')).toEqual({
      scheme: "bearer",
      params: { realm: "https://auth.example/token", service: "registry.example", scope: "repository:a/b:pull,push" },
    });
    expect(parseChallenge('Basic realm="say \\"hi\\""')).toEqual({ scheme: "basic", params: { realm: 'say "hi"' } });
    expect(parseChallenge("Negotiate abc")).toBeUndefined();
    expect(parseChallenge(null)).toBeUndefined();
  });

  it("files tokens under a canonical scope (action order does not matter)", () => {
    expect(tokenCacheKey("r", undefined, "repository:a/b:push,pull")).toBe(tokenCacheKey("r", undefined, "repository:a/b:pull,push"));
    expect(tokenCacheKey("r", undefined, "repository:a/b:pull")).not.toBe(tokenCacheKey("r", undefined, "repository:a/b:pull,push"));
    expect(tokenCacheKey("r", { username: "x", password: "p" }, "s")).not.toBe(tokenCacheKey("r", undefined, "s"));
  });

  it("keeps a token until its expiry, bounded in entries", () => {
    const cache = createTokenCache(2);
    cache.set("a", "ta", 1000);
    expect(cache.get("a", 999)).toBe("ta");
    expect(cache.get("a", 1000)).toBeUndefined();
    cache.set("a", "ta", 5000);
    cache.set("b", "tb", 5000);
    cache.set("c", "tc", 5000);
    expect(cache.size).toBe(2);
    expect(cache.get("a", 0)).toBeUndefined();
    expect(cache.get("c", 0)).toBe("tc");
  });
});

describe("bearer token expiry against the real registry", () => {
  let registry: TestRegistry;
  let tokens: TokenServer;
  beforeAll(async () => {
    // expires_in 10 s: the client renews 5 s early, so its copy lives about 5 s (room for a slow push).
    tokens = await startTokenServer({ bob: "s3cret" }, 10);
    registry = await startRegistry({
      auth: { kind: "token", realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertPem: tokens.rootCertPem },
    });
  });
  afterAll(async () => {
    await registry?.dispose();
    await tokens?.close();
  });

  it("reuses the token while it is valid and fetches a new one after it expires", async () => {
    const client = createOciClient({ insecureRegistries: [registry.host, tokens.host], credentials: () => ({ username: "bob", password: "s3cret" }) });
    await pushWasm(`${registry.host}/team/exp:1`, wasmModule(10), { client });
    const pullScope = () => tokens.requests.filter((r) => r.scope === "repository:team/exp:pull").length; // pull alone: no order
    const afterPush = pullScope();
    await pullWasm(`${registry.host}/team/exp:1`, { client });
    expect(pullScope()).toBe(afterPush);
    await new Promise((r) => setTimeout(r, 5200));
    await pullWasm(`${registry.host}/team/exp:1`, { client });
    expect(pullScope()).toBe(afterPush + 1);
  });
});
