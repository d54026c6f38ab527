import { constants, createPublicKey, generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import { describeWithVectors, readVector } from "../../../testing/vectors.js";
import { EvidenceFormatError } from "../../errors.js";
import { SOFTWARE_TPM_FIRMWARE_VERSION, firmwareVersionHex, isSoftwareTpm, parseQuote } from "../attest.js";
import { computePcrDigest } from "../pcrs.js";
import { parseSignature, verifySignature } from "../signature.js";

interface TrusteeEvidence {
  ak_public: string;
  tpm_quote: { message: string; signature: string; pcrs: string[] };
}

/** The 48 report-data bytes of the Trustee vector's extraData (README: `a04182b5…c120`, then zeros). */
const VECTOR_REPORT_DATA =
  "a04182b506878d4f29b91ee606a71a0d3361ccf1b22db20c98adcaa537bea393ef0e41a18b3569ab678f1497fbc5c120";

function trusteeVector(): TrusteeEvidence {
  return JSON.parse(readVector("tpm/trustee/tpm_evidence.json").toString("utf8")) as TrusteeEvidence;
}

function expectFormatError(fn: () => unknown): void {
  expect(fn).toThrow(EvidenceFormatError);
}

describeWithVectors("TPMS_ATTEST / TPMT_SIGNATURE parsing on the Trustee TPM vector", () => {
  const ev = trusteeVector();
  const message = Buffer.from(ev.tpm_quote.message, "base64");
  const sigBytes = Buffer.from(ev.tpm_quote.signature, "base64");

  it("parses every field of the quote", () => {
    const q = parseQuote(message);
    expect(q.magic).toBe(0xff544347);
    expect(q.type).toBe(0x8018);
    // qualifiedSigner is a TPM2B_NAME: SHA-256 alg id then 32 bytes.
    expect(q.qualifiedSigner.byteLength).toBe(34);
    expect(q.qualifiedSigner.subarray(0, 2).toString("hex")).toBe("000b");
    // extraData: the 48-byte SHA-384 report data zero-padded to 64 (README: a04182b5…c120 then zeros).
    expect(q.extraData.byteLength).toBe(64);
    expect(q.extraData.subarray(0, 48).toString("hex")).toBe(VECTOR_REPORT_DATA);
    expect(q.extraData.subarray(48).equals(Buffer.alloc(16))).toBe(true);
    expect(q.clockInfo).toEqual({ clock: 1913548331n, resetCount: 2, restartCount: 0, safe: true });
    expect(q.firmwareVersion).toBe(SOFTWARE_TPM_FIRMWARE_VERSION);
    expect(firmwareVersionHex(q.firmwareVersion)).toBe("2019102300163636");
    expect(isSoftwareTpm(q)).toBe(true);
    expect(q.quote.pcrSelect).toEqual([{ hashAlg: 0x000b, hash: "sha256", pcrs: Array.from({ length: 24 }, (_, i) => i) }]);
    expect(q.quote.pcrDigest.toString("hex")).toBe("019de64c9318655e422c3d03831169896e31f02a1d74e4d8fef575bf4e0d75fa");
  });

  it("parses the RSASSA/SHA-256 signature and verifies it with ak_public", () => {
    const sig = parseSignature(sigBytes);
    expect(sig.sigAlg).toBe("rsassa");
    expect(sig.hash).toBe("sha256");
    expect(sig.sigAlg === "rsassa" && sig.signature.byteLength).toBe(256);
    const key = createPublicKey({ key: Buffer.from(ev.ak_public, "base64"), format: "der", type: "spki" });
    expect(verifySignature(sig, message, key)).toMatchObject({ ok: true });
    const tampered = Buffer.from(message);
    tampered[tampered.byteLength - 1] = (tampered[tampered.byteLength - 1] ?? 0) ^ 1;
    expect(verifySignature(sig, tampered, key).ok).toBe(false);
  });

  it("recomputes the PCR digest from the 24 PCR values", () => {
    const q = parseQuote(message);
    const sha256 = ev.tpm_quote.pcrs.map((h) => Buffer.from(h, "hex"));
    expect(computePcrDigest(q.quote.pcrSelect, { sha256 }, 0x000b).equals(q.quote.pcrDigest)).toBe(true);
    const changed = [...sha256];
    changed[17] = Buffer.alloc(32, 0xee);
    expect(computePcrDigest(q.quote.pcrSelect, { sha256: changed }, 0x000b).equals(q.quote.pcrDigest)).toBe(false);
    // A selected PCR without a value, or with the wrong length, is malformed evidence.
    expectFormatError(() => computePcrDigest(q.quote.pcrSelect, { sha256: sha256.slice(0, 23) }, 0x000b));
    expectFormatError(() => computePcrDigest(q.quote.pcrSelect, { sha256: [...sha256.slice(0, 23), Buffer.alloc(20)] }, 0x000b));
  });

  it("throws only EvidenceFormatError for every truncation of the quote and the signature", () => {
    for (let len = 0; len < message.byteLength; len++) expectFormatError(() => parseQuote(message.subarray(0, len)));
    for (let len = 0; len < sigBytes.byteLength; len++) expectFormatError(() => parseSignature(sigBytes.subarray(0, len)));
  });

  it("refuses trailing bytes, a wrong magic, a non-quote type and oversized fields", () => {
    expectFormatError(() => parseQuote(Buffer.concat([message, Buffer.from([0])])));
    expectFormatError(() => parseSignature(Buffer.concat([sigBytes, Buffer.from([0])])));
    const badMagic = Buffer.from(message);
    badMagic[0] = 0xfe;
    expectFormatError(() => parseQuote(badMagic));
    const certify = Buffer.from(message);
    certify.writeUInt16BE(0x8017, 4);
    expectFormatError(() => parseQuote(certify));
    const bigName = Buffer.from(message);
    bigName.writeUInt16BE(0xffff, 6);
    expectFormatError(() => parseQuote(bigName));
    const sha1Sig = Buffer.from(sigBytes);
    sha1Sig.writeUInt16BE(0x0004, 2);
    expectFormatError(() => parseSignature(sha1Sig));
    const hmacSig = Buffer.from(sigBytes);
    hmacSig.writeUInt16BE(0x0005, 0);
    expectFormatError(() => parseSignature(hmacSig));
  });

  it("never throws anything but EvidenceFormatError on random mutations and garbage", () => {
    for (let i = 0; i < 3000; i++) {
      const mutated = Buffer.from(message);
      const flips = 1 + (i % 4);
      for (let f = 0; f < flips; f++) {
        const at = randomBytes(2).readUInt16BE(0) % mutated.byteLength;
        mutated[at] = randomBytes(1)[0] ?? 0;
      }
      try {
        parseQuote(mutated);
      } catch (err) {
        expect(err).toBeInstanceOf(EvidenceFormatError);
      }
      const garbage = randomBytes(i % 300);
      expectFormatError(() => parseQuote(garbage));
      try {
        parseSignature(randomBytes(i % 300));
      } catch (err) {
        expect(err).toBeInstanceOf(EvidenceFormatError);
      }
    }
  });
});

describeWithVectors("Azure vTPM quote (tpm-quote-v1.json) through the same parser", () => {
  const v = JSON.parse(readVector("azure-snp-vtpm/trustee/tpm-quote-v1.json").toString("utf8")) as {
    message: string;
    signature: string;
    pcrs: string[];
  };
  const message = Buffer.from(v.message, "hex");

  it("parses, carries the nonce \"challenge\" and its PCR digest matches the 24 SHA-256 PCRs", () => {
    const q = parseQuote(message);
    expect(q.extraData.toString("utf8")).toBe("challenge");
    expect(isSoftwareTpm(q)).toBe(false);
    expect(v.pcrs[0]).toBe("f3a7e99a5f819a034386bce753a48a73cfdaa0bea0ecfc124bedbf5a8c4799be");
    const sha256 = v.pcrs.map((h) => Buffer.from(h, "hex"));
    expect(computePcrDigest(q.quote.pcrSelect, { sha256 }, 0x000b).equals(q.quote.pcrDigest)).toBe(true);
  });

  it("its raw RSASSA signature verifies with HCLAkPub from the HCL report's var_data", () => {
    const hcl = readVector("azure-snp-vtpm/trustee/hcl-report.bin");
    // var_data is JSON starting at 0x4D4 (README); its keys[] holds the HCLAkPub RSA JWK.
    const text = hcl.subarray(0x4d4).toString("utf8");
    const json = JSON.parse(text.slice(0, text.lastIndexOf("}") + 1)) as { keys: Array<{ kid: string; kty: string; n: string; e: string }> };
    const jwk = json.keys.find((k) => k.kid === "HCLAkPub");
    expect(jwk).toBeDefined();
    const key = createPublicKey({ key: { kty: "RSA", n: jwk!.n, e: jwk!.e }, format: "jwk" });
    const raw = Buffer.from(v.signature, "hex");
    expect(verifySignature({ sigAlg: "rsassa", hashAlg: 0x000b, hash: "sha256", signature: raw }, message, key).ok).toBe(true);
    const flipped = Buffer.from(raw);
    flipped[10] = (flipped[10] ?? 0) ^ 0x40;
    expect(verifySignature({ sigAlg: "rsassa", hashAlg: 0x000b, hash: "sha256", signature: flipped }, message, key).ok).toBe(false);
  });
});

describe("TPMT_SIGNATURE verification for ECDSA and RSAPSS", () => {
  // Real TPM ECDSA and RSAPSS quotes are exercised against swtpm in attesters/test; here we pin
  // the scalar padding and the key-type checks with keys whose private half we hold.
  const message = randomBytes(145);

  function ecdsaSig(r: Buffer, s: Buffer, hashAlg = 0x000b): Buffer {
    const out = Buffer.alloc(2 + 2 + 2 + r.byteLength + 2 + s.byteLength);
    let o = out.writeUInt16BE(0x0018, 0);
    o = out.writeUInt16BE(hashAlg, o);
    o = out.writeUInt16BE(r.byteLength, o);
    o += r.copy(out, o);
    o = out.writeUInt16BE(s.byteLength, o);
    s.copy(out, o);
    return out;
  }

  it("verifies P-256/SHA-256 and P-384/SHA-384, also with leading zeros stripped from r or s", () => {
    for (const [curve, hash, alg, size] of [["P-256", "sha256", 0x000b, 32], ["P-384", "sha384", 0x000c, 48]] as const) {
      const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: curve });
      const raw = sign(hash, message, { key: privateKey, dsaEncoding: "ieee-p1363" });
      const parsed = parseSignature(ecdsaSig(raw.subarray(0, size), raw.subarray(size), alg));
      expect(verifySignature(parsed, message, publicKey).ok).toBe(true);
      const other = Buffer.from(message);
      other[0] = (other[0] ?? 0) ^ 1;
      expect(verifySignature(parsed, other, publicKey).ok).toBe(false);
      // A TPM may send r or s without its leading zero byte: sign until r has one (p = 1/256 per
      // signature; 20000 tries leave a failure chance below 1e-34), then strip it.
      let short: Buffer | undefined;
      for (let i = 0; i < 20_000 && !short; i++) {
        const candidate = sign(hash, message, { key: privateKey, dsaEncoding: "ieee-p1363" });
        if (candidate[0] === 0) short = candidate;
      }
      expect(short).toBeDefined();
      const stripped = parseSignature(ecdsaSig(short!.subarray(1, size), short!.subarray(size), alg));
      expect(stripped.sigAlg === "ecdsa" && stripped.r.byteLength).toBe(size - 1);
      expect(verifySignature(stripped, message, publicKey).ok).toBe(true);
    }
  });

  it("verifies RSAPSS with salt = digest size and refuses a key of the wrong type", () => {
    const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const raw = sign("sha256", message, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    const bytes = Buffer.concat([Buffer.from([0x00, 0x16, 0x00, 0x0b, 0x01, 0x00]), raw]);
    const parsed = parseSignature(bytes);
    expect(parsed.sigAlg).toBe("rsapss");
    expect(verifySignature(parsed, message, publicKey).ok).toBe(true);
    // The same bytes read as RSASSA do not verify: the scheme is bound.
    const asSsa = Buffer.from(bytes);
    asSsa.writeUInt16BE(0x0014, 0);
    expect(verifySignature(parseSignature(asSsa), message, publicKey).ok).toBe(false);
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
    const check = verifySignature(parsed, message, ec);
    expect(check.ok).toBe(false);
    expect(check.detail).toMatch(/key is ec/);
  });
});
