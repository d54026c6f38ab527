import { describe, expect, it } from "vitest";
import { generateKeyPairSync } from "node:crypto";
import { calculateJwkThumbprint, exportJWK, SignJWT } from "jose";
import { buildEarClaims, EAR_PROFILE } from "../claims.js";
import { signEar, type EarSigningKey } from "../sign.js";
import { EarTokenError, verifyEar } from "../verify.js";
import { statusOf, statusAtLeast } from "../trust-vector.js";

async function key(): Promise<EarSigningKey> {
  const pair = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = await exportJWK(pair.publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, privateKey: pair.privateKey, publicJwk: { ...jwk, kid, alg: "ES256", use: "sig" } };
}

const teePubkey = { kty: "EC", crv: "P-256", alg: "ECDH-ES+A256KW", x: "AAAA", y: "BBBB" };
const claims = (lifetimeSeconds = 300, now?: Date) =>
  buildEarClaims({
    issuer: "https://kbs", audience: "propeller", lifetimeSeconds, jti: "j1", ...(now ? { now } : {}),
    verifierId: { developer: "propeller-kbs", build: "t" }, status: "affirming", trustVector: { "instance-identity": 2 }, policyId: "p",
    tee: "snp", teeClaims: { measurement: "aa" }, runtimeData: { nonce: "n", "tee-pubkey": teePubkey, "receipt-pubkey": { kty: "OKP" } },
  });

describe("EAR tokens", () => {
  it("carry the EAR claims, the attested key at Trustee's path and as cnf.jwk, and verify against the JWKS", async () => {
    const k = await key();
    const token = await signEar(claims(), k);
    const v = await verifyEar(token, { keys: [k.publicJwk] }, { issuer: "https://kbs", audience: "propeller" });
    expect(v.kid).toBe(k.kid);
    expect(v.teePubkey).toEqual(teePubkey);
    expect(v.claims.eat_profile).toBe(EAR_PROFILE);
    expect(v.claims.cnf.jwk).toEqual(teePubkey);
    expect(v.claims.submods.cpu0["ear.veraison.annotated-evidence"]).toMatchObject({ tee: "snp", snp: { measurement: "aa" }, runtime_data_claims: { "receipt-pubkey": { kty: "OKP" } } });
    expect(v.claims.nbf).toBe(v.claims.iat);
  });

  it("refuse another key, a key only in the header, a wrong audience and an expired token", async () => {
    const k = await key();
    const attacker = await key();
    const token = await signEar(claims(), k);
    await expect(verifyEar(token, { keys: [attacker.publicJwk] })).rejects.toBeInstanceOf(EarTokenError);
    // Signed by the attacker, naming the real kid, with the attacker's key in the header.
    const forged = await new SignJWT(claims() as never).setProtectedHeader({ alg: "ES256", kid: k.kid, jwk: { kty: "EC", crv: "P-256", x: attacker.publicJwk.x!, y: attacker.publicJwk.y! } }).sign(attacker.privateKey);
    await expect(verifyEar(forged, { keys: [k.publicJwk] })).rejects.toThrow(/not valid/);
    await expect(verifyEar(token, { keys: [k.publicJwk] }, { audience: "other" })).rejects.toThrow(/aud/);
    const old = await signEar(claims(60, new Date(Date.now() - 3600_000)), k);
    await expect(verifyEar(old, { keys: [k.publicJwk] })).rejects.toMatchObject({ code: "ear_expired" });
  });

  it("derive the status from the worst AR4SI tier", () => {
    expect(statusOf({ "instance-identity": 2, executables: 2 })).toBe("affirming");
    expect(statusOf({ "instance-identity": 2, executables: 33 })).toBe("warning");
    expect(statusOf({ "instance-identity": 96, executables: 2 })).toBe("contraindicated");
    expect(statusOf({})).toBe("none");
    expect(statusAtLeast("affirming", "warning")).toBe(true);
    expect(statusAtLeast("warning", "affirming")).toBe(false);
  });
});
