import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportJWK, generateKeyPair } from "jose";
import { MAX_JWKS_BYTES, currentJwks, fetchJwks, remoteJwks } from "../jwks.js";

let server: Server;
let base: string;
const hits = new Map<string, number>();
let keys: object[] = [];

beforeAll(async () => {
  const { publicKey } = await generateKeyPair("ES256");
  keys = [{ ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" }];
  server = createServer((req, res) => {
    hits.set(req.url!, (hits.get(req.url!) ?? 0) + 1);
    if (req.url === "/jwks") return res.end(JSON.stringify({ keys }));
    if (req.url === "/huge") return res.end(JSON.stringify({ keys: [{ kty: "oct", k: "A".repeat(MAX_JWKS_BYTES) }] }));
    if (req.url === "/redirect") return res.writeHead(302, { location: "/jwks" }).end();
    if (req.url === "/not-a-set") return res.end(JSON.stringify({ hello: 1 }));
    if (req.url === "/slow") return setTimeout(() => res.end(JSON.stringify({ keys })), 2000);
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe("remote JWKS through jose with a bounded fetch", () => {
  it("fetches a set once, serves it from cache, and refetches for an unknown key id only after the cooldown", async () => {
    const url = `${base}/jwks`;
    const remote = remoteJwks(url, { cooldownMs: 300 });
    expect((await currentJwks(remote, url)).keys).toEqual(keys);
    await currentJwks(remote, url, "k1");
    await currentJwks(remote, url, "rotated"); // within the cooldown: no refetch
    expect(hits.get("/jwks")).toBe(1);
    await new Promise((r) => setTimeout(r, 350));
    await currentJwks(remote, url, "rotated");
    expect(hits.get("/jwks")).toBe(2);
  });

  it("refuses a body over the bound, a redirect, an error status, a non-set and a slow server, by reason", async () => {
    await expect(fetchJwks(`${base}/huge`)).rejects.toMatchObject({ name: "JwksFetchError", reason: "too_large" });
    await expect(fetchJwks(`${base}/redirect`)).rejects.toMatchObject({ reason: "unreachable" });
    expect(hits.get("/jwks")).toBe(2); // the redirect was not followed
    await expect(fetchJwks(`${base}/missing`)).rejects.toMatchObject({ reason: "unreachable", message: expect.stringMatching(/answered 404/) });
    await expect(fetchJwks(`${base}/not-a-set`)).rejects.toMatchObject({ reason: "invalid" });
    await expect(fetchJwks(`${base}/slow`, { timeoutMs: 200 })).rejects.toMatchObject({ reason: "unreachable" });
    await expect(fetchJwks("http://127.0.0.1:9/jwks")).rejects.toMatchObject({ reason: "unreachable", message: expect.stringMatching(/cannot fetch/) });
  });
});
