// Decoded JWT claims are read as `any` below: each field used is asserted explicitly.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeJwt, decodeProtectedHeader, flattenedDecrypt, createLocalJWKSet, jwtVerify, type FlattenedJWE, type JSONWebKeySet } from "jose";
import { randomBytes } from "node:crypto";
import { addReferenceValue, putResource, setResourcePolicy } from "../admin-client.js";
import { verifyEar } from "../../attestation/ear/verify.js";
import { KbsClient } from "../../attestation/agent/kbs-client.js";
import { generateAttestedKeys } from "../../attestation/agent/keys.js";
import { SampleAttester } from "../../attestation/attesters/sample.js";
import { attestSample, auditRows, getResource, SAMPLE_POLICY, sampleSvnReference, startTestKbs, teeKey, type TestKbs } from "./helpers.js";

// The tests read decoded EAR claims deep (submods.cpu0["ear.status"] …) and assert each value, so a
// wrong path fails the assertion; typing every claim path here would only restate the assertions.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type DecodedClaims = Record<string, any>;

describe("KBS full flow, sample TEE in development mode, real HTTP + PGlite", () => {
  let t: TestKbs;
  const secret = randomBytes(48);

  beforeAll(async () => {
    t = await startTestKbs({ developmentMode: true });
    await putResource(t.conn, "default/key/one", secret);
    await setResourcePolicy(t.conn, "default/key/one", SAMPLE_POLICY);
    await addReferenceValue(t.conn, sampleSvnReference());
  });
  afterAll(async () => t?.close());

  it("auth → attest → resource with the bearer token; the JWE decrypts with the tee private key", async () => {
    const key = await teeKey();
    const { token } = await attestSample(t.url, key, { "receipt-pubkey": { kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" }, "proplet-id": "p1" });

    const header = decodeProtectedHeader(token);
    expect(header.alg).toBe("ES256");
    expect(typeof header.kid).toBe("string");
    const claims = decodeJwt(token) as DecodedClaims;
    expect(claims.eat_profile).toBe("tag:github.com,2023:veraison/ear");
    for (const c of ["iat", "exp", "nbf", "iss", "aud", "jti"]) expect(claims[c]).toBeDefined();
    const cpu0 = claims.submods.cpu0;
    expect(cpu0["ear.status"]).toBe("affirming");
    expect(cpu0["ear.trustworthiness-vector"]["instance-identity"]).toBe(2);
    expect(cpu0["ear.veraison.annotated-evidence"].runtime_data_claims["tee-pubkey"]).toEqual(key.publicJwk);
    expect(cpu0["ear.veraison.annotated-evidence"].runtime_data_claims["receipt-pubkey"].crv).toBe("Ed25519");
    expect(cpu0["ear.veraison.annotated-evidence"].runtime_data_claims["proplet-id"]).toBe("p1");
    expect(claims.cnf.jwk).toEqual(key.publicJwk);
    // Development mode is marked on the token, not hidden.
    expect(claims["propeller.development"]).toBe(true);
    expect(claims["ear.verifier-id"].developer).toMatch(/DEVELOPMENT MODE/);

    // The token verifies against the published JWKS (both addresses).
    const jwks = (await (await fetch(`${t.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
    expect(await (await fetch(`${t.url}/kbs/v0/jwks`)).json()).toEqual(jwks);
    const verified = await verifyEar(token, jwks, { audience: "propeller" });
    expect(verified.kid).toBe(header.kid);
    await jwtVerify(token, createLocalJWKSet(jwks));

    const response = await getResource(t.url, "default/key/one", { bearer: token });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/application\/json/);
    const text = await response.text();
    expect(Object.keys(JSON.parse(text))).toEqual(["protected", "encrypted_key", "iv", "ciphertext", "tag"]);
    const jwe = JSON.parse(text);
    const protectedHeader = JSON.parse(Buffer.from(jwe.protected, "base64url").toString());
    expect(Object.keys(protectedHeader).slice(0, 2)).toEqual(["alg", "enc"]);
    expect(protectedHeader.enc).toBe("A256GCM");
    const { plaintext } = await flattenedDecrypt(jwe, key.privateKey);
    expect(Buffer.from(plaintext).equals(secret)).toBe(true);

    const releases = await auditRows(t.kbs, "release");
    expect(releases.some((r) => r.subject === "default/key/one" && r.outcome === "ok" && r.actor === `token:${claims.jti}`)).toBe(true);
    // No secret in any audit row.
    const all = JSON.stringify(await auditRows(t.kbs));
    expect(all).not.toContain(secret.toString("hex"));
    expect(all).not.toContain(secret.toString("base64"));
  });

  it("the cookie variant releases the same resource without a bearer token", async () => {
    const key = await teeKey();
    const { cookie } = await attestSample(t.url, key);
    const response = await getResource(t.url, "default/key/one", { cookie });
    expect(response.status).toBe(200);
    const { plaintext } = await flattenedDecrypt((await response.json()) as FlattenedJWE, key.privateKey);
    expect(Buffer.from(plaintext).equals(secret)).toBe(true);
  });

  it("encrypts to P-521 and RSA-OAEP-256 tee keys", async () => {
    for (const kind of ["P-521", "RSA"] as const) {
      const key = await teeKey(kind);
      const { token } = await attestSample(t.url, key);
      const response = await getResource(t.url, "default/key/one", { bearer: token });
      expect(response.status).toBe(200);
      const jwe = (await response.json()) as FlattenedJWE;
      expect(JSON.parse(Buffer.from(jwe.protected!, "base64url").toString()).alg).toBe(kind === "RSA" ? "RSA-OAEP-256" : "ECDH-ES+A256KW");
      const { plaintext } = await flattenedDecrypt(jwe, key.privateKey);
      expect(Buffer.from(plaintext).equals(secret)).toBe(true);
    }
  });

  it("our attestation agent (written from KBS-PROTOCOL.md by another engineer) gets the resource", async () => {
    const keys = await generateAttestedKeys();
    const client = new KbsClient({ url: t.url, attester: new SampleAttester(), keys, extraRuntimeData: { "proplet-id": "agent-1" } });
    const plaintext = await client.getResource("kbs:///default/key/one");
    expect(Buffer.from(plaintext).equals(secret)).toBe(true);
  });

  it("rotates the signing key over the admin API: new tokens use the new key, old tokens still verify", async () => {
    const key = await teeKey();
    const before = await attestSample(t.url, key);
    const oldKid = decodeProtectedHeader(before.token).kid;
    const { rotateSigningKey, readAudit } = await import("../admin-client.js");
    const { kid } = await rotateSigningKey(t.conn);
    expect(kid).not.toBe(oldKid);
    const after = await attestSample(t.url, key);
    expect(decodeProtectedHeader(after.token).kid).toBe(kid);
    const jwks = (await (await fetch(`${t.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
    expect(jwks.keys.map((k) => k.kid)).toEqual(expect.arrayContaining([oldKid, kid]));
    expect((await getResource(t.url, "default/key/one", { bearer: before.token })).status).toBe(200);
    expect((await getResource(t.url, "default/key/one", { bearer: after.token })).status).toBe(200);
    const entries = (await readAudit(t.conn, { event: "admin", limit: 5 })) as { reason: string; actor: string }[];
    expect(entries.some((e) => e.reason === "signing-key.rotate" && e.actor === "admin:test-admin/test")).toBe(true);
  });

  it("reports health and Prometheus metrics", async () => {
    const health = await (await fetch(`${t.url}/healthz`)).json();
    expect(health).toMatchObject({ status: "ok", database: "pglite", developmentMode: true });
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(/kbs_attest_total\{tee="sample",status="affirming"\} \d+/);
    expect(metrics).toMatch(/kbs_resource_total\{outcome="released"\} \d+/);
  });
});
