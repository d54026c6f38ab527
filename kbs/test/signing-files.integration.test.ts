import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { calculateJwkThumbprint, decodeProtectedHeader, exportJWK, type JSONWebKeySet } from "jose";
import { addReferenceValue, putResource, rotateSigningKey, setResourcePolicy } from "../admin-client.js";
import { verifyEar } from "../../attestation/ear/verify.js";
import { createTestDatabase, type TestDatabase } from "../../testing/postgres.js";
import { startKbs } from "../server.js";
import { attestSample, getResource, SAMPLE_POLICY, sampleSvnReference, silent, startTestKbs, teeKey, type TestKbs } from "./helpers.js";

async function writeKey(dir: string, name: string): Promise<string> {
  const pair = generateKeyPairSync("ec", { namedCurve: "P-256" });
  await writeFile(join(dir, name), pair.privateKey.export({ format: "pem", type: "pkcs8" }));
  return calculateJwkThumbprint(await exportJWK(pair.publicKey));
}

describe("operator-managed signing keys from a folder", () => {
  let dir: string;
  let pg: TestDatabase;
  let t: TestKbs;
  let older: string;
  let newer: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kbs-keys-"));
    older = await writeKey(dir, "2026-01-01.pem");
    newer = await writeKey(dir, "2026-06-01.pem");
    pg = await createTestDatabase("kbs_keyfiles");
    t = await startTestKbs({ databaseUrl: pg.url, developmentMode: true, signingKeysDir: dir });
    await putResource(t.conn, "f/key/one", randomBytes(16));
    await setResourcePolicy(t.conn, "f/key/one", SAMPLE_POLICY);
    await addReferenceValue(t.conn, sampleSvnReference());
  });
  afterAll(async () => {
    await t?.close();
    await pg?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it("the newest file signs, every file is published, and nothing is generated in the database", async () => {
    const { token } = await attestSample(t.url, await teeKey());
    expect(decodeProtectedHeader(token).kid).toBe(newer);
    const jwks = (await (await fetch(`${t.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
    expect(jwks.keys.map((k) => k.kid)).toEqual([newer, older]);
    expect((await verifyEar(token, jwks)).kid).toBe(newer);
    expect((await getResource(t.url, "f/key/one", { bearer: token })).status).toBe(200);
    expect((await t.kbs.context.db.query("SELECT 1 FROM kbs_signing_keys")).rowCount).toBe(0);
  });

  it("rotation is the operator's (adding a file); the admin rotate call says so", async () => {
    await expect(rotateSigningKey(t.conn)).rejects.toMatchObject({ status: 400 });
    await expect(rotateSigningKey(t.conn)).rejects.toThrow(/adding a newer PEM file/);
  });

  it("a folder without a usable key stops the KBS at start", async () => {
    const empty = await mkdtemp(join(tmpdir(), "kbs-keys-empty-"));
    try {
      await writeFile(join(empty, "bad.pem"), "not a key");
      await expect(startKbs({ masterKey: randomBytes(32).toString("base64"), listen: { host: "127.0.0.1", port: 0 }, databaseUrl: pg.url, signingKeysDir: empty }, { logger: silent })).rejects.toThrow(/not a PEM private key/);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});
