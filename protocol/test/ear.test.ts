import { exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";
import { describe, expect, it } from "vitest";
import { EAR_ISSUED_ALGORITHM, verifyEarToken } from "../ear.js";

async function issuer(alg: "ES256" | "ES384" | "EdDSA") {
  const { privateKey, publicKey } = await generateKeyPair(alg, alg === "EdDSA" ? { crv: "Ed25519" } : {});
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: `k-${alg}`, alg };
  const sign = (claims: Record<string, unknown>, header: Record<string, unknown> = {}) =>
    new SignJWT(claims).setProtectedHeader({ alg, kid: jwk.kid!, ...header }).setIssuedAt().setExpirationTime("5m").sign(privateKey);
  return { jwk, sign, publicKey };
}

describe("verifyEarToken: the one EAR signature and validity check", () => {
  it("accepts another Trustee-compatible KBS's algorithm by default, and only the issued one when asked", async () => {
    const es384 = await issuer("ES384");
    const token = await es384.sign({ submods: { cpu0: { "ear.status": "affirming" } } });
    const jwks = { keys: [es384.jwk] };
    const { payload, kid } = await verifyEarToken(token, jwks);
    expect(kid).toBe("k-ES384");
    expect(payload.submods).toEqual({ cpu0: { "ear.status": "affirming" } });
    await expect(verifyEarToken(token, jwks, { algorithms: [EAR_ISSUED_ALGORITHM] })).rejects.toMatchObject({ code: "ERR_JOSE_ALG_NOT_ALLOWED" });
  });

  it("never trusts a key the token carries in its own header", async () => {
    const trusted = await issuer("ES256");
    const attacker = await issuer("ES256");
    const token = await attacker.sign({ submods: {} }, { kid: trusted.jwk.kid, jwk: attacker.jwk });
    await expect(verifyEarToken(token, { keys: [trusted.jwk] })).rejects.toMatchObject({ code: "ERR_JWS_SIGNATURE_VERIFICATION_FAILED" });
  });

  it("judges validity at the given time and enforces required claims", async () => {
    const es256 = await issuer("ES256");
    const token = await es256.sign({ sub: "x" });
    const jwks = { keys: [es256.jwk] };
    await expect(verifyEarToken(token, jwks, { now: new Date(Date.now() + 3600_000) })).rejects.toMatchObject({ code: "ERR_JWT_EXPIRED" });
    await expect(verifyEarToken(token, jwks, { requiredClaims: ["submods"] })).rejects.toMatchObject({ code: "ERR_JWT_CLAIM_VALIDATION_FAILED" });
    await expect(verifyEarToken(token, jwks, { requiredClaims: ["exp", "iat"] })).resolves.toMatchObject({ kid: "k-ES256" });
  });
});
