import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { beforeAll, describe, expect, it } from "vitest";
import { EvidenceFormatError } from "../../errors.js";
import { loadEkTrust, verifyEkCertificate } from "../ek.js";

// Real certificates signed with real keys (the swtpm_setup CA is exercised in attesters/test);
// here we build the shapes a vendor CA cannot be relied on to give us: a leaf posing as a CA.
type CryptoKeyPair = webcrypto.CryptoKeyPair;
const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const notBefore = new Date("2025-01-01T00:00:00Z");
const notAfter = new Date("2035-01-01T00:00:00Z");
const now = new Date("2026-06-01T00:00:00Z");

async function keys() {
  return webcrypto.subtle.generateKey(alg, true, ["sign", "verify"]) as Promise<CryptoKeyPair>;
}

async function issue(
  subject: string,
  issuer: { name: string; keys: CryptoKeyPair },
  own: CryptoKeyPair,
  ca: boolean,
  serial: string,
): Promise<x509.X509Certificate> {
  return x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject,
    issuer: issuer.name,
    notBefore,
    notAfter,
    signingAlgorithm: alg,
    publicKey: own.publicKey,
    signingKey: issuer.keys.privateKey,
    extensions: [new x509.BasicConstraintsExtension(ca, undefined, true)],
  });
}

describe("EK certificate chain building", () => {
  let rootKeys: CryptoKeyPair;
  let root: x509.X509Certificate;
  let intermediate: x509.X509Certificate;
  let ek: x509.X509Certificate;
  let fakeCa: x509.X509Certificate;
  let fakeEk: x509.X509Certificate;

  beforeAll(async () => {
    rootKeys = await keys();
    root = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: "01",
      name: "CN=Test TPM Root",
      notBefore,
      notAfter,
      signingAlgorithm: alg,
      keys: rootKeys,
      extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
    });
    const interKeys = await keys();
    intermediate = await issue("CN=Test TPM Intermediate", { name: "CN=Test TPM Root", keys: rootKeys }, interKeys, true, "02");
    ek = await issue("CN=ek", { name: "CN=Test TPM Intermediate", keys: interKeys }, await keys(), false, "03");
    // A non-CA certificate from the root, named like a CA, "issuing" another EK.
    const leafKeys = await keys();
    fakeCa = await issue("CN=Fake Intermediate", { name: "CN=Test TPM Root", keys: rootKeys }, leafKeys, false, "04");
    fakeEk = await issue("CN=fake-ek", { name: "CN=Fake Intermediate", keys: leafKeys }, await keys(), false, "05");
  });

  it("verifies root → intermediate → EK", async () => {
    const trust = loadEkTrust({ roots: [root.toString("pem")], intermediates: [Buffer.from(intermediate.rawData)] });
    const check = await verifyEkCertificate(Buffer.from(ek.rawData), trust, now);
    expect(check).toMatchObject({ ok: true, subject: "CN=ek", issuer: "CN=Test TPM Intermediate" });
  });

  it("refuses a chain through a certificate that is not a CA, although every signature is valid", async () => {
    expect(await fakeEk.verify({ publicKey: fakeCa, signatureOnly: true })).toBe(true);
    const trust = loadEkTrust({ roots: [root.toString("pem")], intermediates: [fakeCa.toString("pem")] });
    const check = await verifyEkCertificate(Buffer.from(fakeEk.rawData), trust, now);
    expect(check.ok).toBe(false);
    expect(check.detail).toMatch(/no configured certificate signed "CN=fake-ek"/);
  });

  it("refuses an EK outside its validity and garbage bytes", async () => {
    const trust = loadEkTrust({ roots: [root.toString("pem")], intermediates: [intermediate.toString("pem")] });
    expect((await verifyEkCertificate(Buffer.from(ek.rawData), trust, new Date("2036-01-01T00:00:00Z"))).ok).toBe(false);
    await expect(verifyEkCertificate(Buffer.from("garbage"), trust, now)).rejects.toBeInstanceOf(EvidenceFormatError);
  });
});
