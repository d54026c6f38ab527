import { createPublicKey } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { describeWithVectors, readVector } from "../../../testing/vectors.js";
import { EvidenceFormatError } from "../../errors.js";
import { TpmConfigError, akFingerprint, fingerprintsFromDir, normalizeFingerprint } from "../ak.js";
import { TpmVerifier } from "../verifier.js";
import { nonceMatches } from "../verify.js";

interface TrusteeEvidence {
  ak_public: string;
  tpm_quote: { message: string; signature: string; pcrs: string[] };
}

const REPORT_DATA = Buffer.from(
  "a04182b506878d4f29b91ee606a71a0d3361ccf1b22db20c98adcaa537bea393ef0e41a18b3569ab678f1497fbc5c120",
  "hex",
);

function vector(): TrusteeEvidence {
  return JSON.parse(readVector("tpm/trustee/tpm_evidence.json").toString("utf8")) as TrusteeEvidence;
}

function flipBase64(b64: string, at: number): string {
  const bytes = Buffer.from(b64, "base64");
  const i = at < 0 ? bytes.byteLength + at : at;
  bytes[i] = (bytes[i] ?? 0) ^ 0x01;
  return bytes.toString("base64");
}

function failedChecks(result: { checks: Array<{ name: string; ok: boolean }> }): string[] {
  return result.checks.filter((c) => !c.ok).map((c) => c.name);
}

describeWithVectors("TPM verifier on Trustee's tpm_evidence.json", () => {
  const ev = vector();
  const fingerprint = akFingerprint(createPublicKey({ key: Buffer.from(ev.ak_public, "base64"), format: "der", type: "spki" }));
  const verifier = new TpmVerifier({ trustedAkFingerprints: [fingerprint] });

  it("verifies with its AK allow-listed and the report data in extraData", async () => {
    const result = await verifier.verify(ev, { reportData: REPORT_DATA });
    expect(result.tee).toBe("tpm");
    expect(result.checks.map((c) => [c.name, c.ok])).toEqual([
      ["tpm.ak_trusted", true],
      ["tpm.signature", true],
      ["tpm.pcr_digest", true],
      ["tpm.nonce", true],
    ]);
    expect(result.ok).toBe(true);
    const c = result.claims;
    expect(c.ak_fingerprint).toBe(fingerprint);
    expect(c.ak_trusted).toBe(true);
    expect(c.firmware_version).toBe("2019102300163636");
    expect(c.software_tpm).toBe(true);
    expect(c.warnings).toEqual(["software_tpm"]);
    expect(c.signature_alg).toBe("rsassa/sha256");
    expect(c.clock).toEqual({ clock: "1913548331", reset_count: 2, restart_count: 0, safe: true });
    expect(c.report_data).toBe(REPORT_DATA.toString("hex") + "00".repeat(16));
    expect(Object.keys(c.pcrs)).toHaveLength(24);
    expect(c.pcrs["0"]).toBe("00".repeat(32));
    expect(c.pcrs["17"]).toBe("ff".repeat(32));
    expect(c.pcrs["23"]).toBe("00".repeat(32));
  });

  it("accepts the fingerprint in upper case with colons (openssl -c style)", async () => {
    const colons = fingerprint.toUpperCase().match(/../g)!.join(":");
    const result = await new TpmVerifier({ trustedAkFingerprints: [colons] }).verify(ev, { reportData: REPORT_DATA });
    expect(result.ok).toBe(true);
  });

  it("fails tpm.signature when one byte of the quote message changes", async () => {
    // Byte 110 is inside clockInfo.clock: the quote still parses, only the signature breaks.
    const tampered = { ...ev, tpm_quote: { ...ev.tpm_quote, message: flipBase64(ev.tpm_quote.message, 110) } };
    const result = await verifier.verify(tampered, { reportData: REPORT_DATA });
    expect(result.ok).toBe(false);
    expect(failedChecks(result)).toEqual(["tpm.signature"]);
  });

  it("fails tpm.signature when one byte of the signature changes", async () => {
    const tampered = { ...ev, tpm_quote: { ...ev.tpm_quote, signature: flipBase64(ev.tpm_quote.signature, -1) } };
    const result = await verifier.verify(tampered, { reportData: REPORT_DATA });
    expect(failedChecks(result)).toEqual(["tpm.signature"]);
  });

  it("fails tpm.pcr_digest when a PCR value changes", async () => {
    const pcrs = [...ev.tpm_quote.pcrs];
    pcrs[7] = "01" + pcrs[7]!.slice(2);
    const result = await verifier.verify({ ...ev, tpm_quote: { ...ev.tpm_quote, pcrs } }, { reportData: REPORT_DATA });
    expect(failedChecks(result)).toEqual(["tpm.pcr_digest"]);
  });

  it("fails tpm.nonce for other report data", async () => {
    const other = Buffer.from(REPORT_DATA);
    other[0] = (other[0] ?? 0) ^ 0xff;
    const result = await verifier.verify(ev, { reportData: other });
    expect(failedChecks(result)).toEqual(["tpm.nonce"]);
    // An expectation already truncated to KBS-PROTOCOL.md's 32-byte field binds the first 32 bytes.
    expect((await verifier.verify(ev, { reportData: REPORT_DATA.subarray(0, 32) })).ok).toBe(true);
    const otherShort = Buffer.from(REPORT_DATA.subarray(0, 32));
    otherShort[31] = (otherShort[31] ?? 0) ^ 1;
    expect(failedChecks(await verifier.verify(ev, { reportData: otherShort }))).toEqual(["tpm.nonce"]);
    // Any other shorter expectation is zero-padded, so it does not match the hash bytes after it.
    expect(failedChecks(await verifier.verify(ev, { reportData: REPORT_DATA.subarray(0, 40) }))).toEqual(["tpm.nonce"]);
  });

  it("fails tpm.ak_trusted for an AK that is not on the allow-list, and with an empty list", async () => {
    const other = new TpmVerifier({ trustedAkFingerprints: ["ab".repeat(32)] });
    const result = await other.verify(ev, { reportData: REPORT_DATA });
    expect(failedChecks(result)).toEqual(["tpm.ak_trusted"]);
    const empty = await new TpmVerifier().verify(ev, { reportData: REPORT_DATA });
    expect(failedChecks(empty)).toEqual(["tpm.ak_trusted"]);
    expect(empty.checks[0]!.detail).toMatch(/no trusted AKs are configured/);
    expect(empty.claims.ak_trusted).toBe(false);
  });

  it("with acceptAnyAk passes but says ak_trusted: false and warns", async () => {
    const result = await new TpmVerifier({ acceptAnyAk: true }).verify(ev, { reportData: REPORT_DATA });
    expect(result.ok).toBe(true);
    expect(result.claims.ak_trusted).toBe(false);
    expect(result.claims.warnings).toContain("ak_not_allow_listed");
    expect(result.checks[0]!.detail).toMatch(/NOT on the allow-list/);
  });

  it("throws EvidenceFormatError (only) for malformed evidence", async () => {
    const cases: unknown[] = [
      null,
      "string",
      {},
      { ...ev, extra: 1 },
      { ...ev, ak_public: "not base64!" },
      { ...ev, ak_public: Buffer.from("garbage").toString("base64") },
      { ...ev, tpm_quote: { ...ev.tpm_quote, message: Buffer.from(ev.tpm_quote.message, "base64").subarray(0, 50).toString("base64") } },
      { ...ev, tpm_quote: { ...ev.tpm_quote, message: Buffer.alloc(5000).toString("base64") } },
      { ...ev, tpm_quote: { ...ev.tpm_quote, signature: Buffer.from(ev.tpm_quote.signature, "base64").subarray(0, 100).toString("base64") } },
      { ...ev, tpm_quote: { ...ev.tpm_quote, pcrs: ev.tpm_quote.pcrs.slice(0, 23) } },
      { ...ev, tpm_quote: { ...ev.tpm_quote, pcrs: [...ev.tpm_quote.pcrs.slice(0, 23), "zz".repeat(32)] } },
      { ...ev, tpm_quote: { ...ev.tpm_quote, pcrs: Array(40).fill("00".repeat(32)) } },
    ];
    for (const bad of cases) {
      await expect(verifier.verify(bad, { reportData: REPORT_DATA })).rejects.toBeInstanceOf(EvidenceFormatError);
    }
  });

  it("without expected report data skips tpm.nonce but warns that the quote may be a replay", async () => {
    const result = await verifier.verify(ev, {});
    expect(result.checks.map((c) => c.name)).not.toContain("tpm.nonce");
    expect(result.claims.warnings).toContain("report_data_not_checked");
  });

  it("accepts the older guest-components fields svn and report_data without trusting them", async () => {
    const result = await verifier.verify({ ...ev, svn: "1", report_data: "AAAA" }, { reportData: REPORT_DATA });
    expect(result.ok).toBe(true);
  });
});

describe("nonce encodings", () => {
  const hash = Buffer.alloc(48, 0x5a);
  it("accepts the first 32 bytes, the 48 raw bytes, and the 64 zero-padded bytes", () => {
    expect(nonceMatches(hash.subarray(0, 32), hash).ok).toBe(true);
    expect(nonceMatches(hash, hash).ok).toBe(true);
    expect(nonceMatches(Buffer.concat([hash, Buffer.alloc(16)]), hash).ok).toBe(true);
  });
  it("with a 32-byte expectation compares the first 32 bytes of longer extraData", () => {
    const padded = Buffer.concat([hash, Buffer.alloc(16)]);
    expect(nonceMatches(padded, hash.subarray(0, 32)).ok).toBe(true);
    const wrong = Buffer.from(padded);
    wrong[0] = 0;
    expect(nonceMatches(wrong, hash.subarray(0, 32)).ok).toBe(false);
  });
  it("refuses other lengths (an empty extraData must never match) and non-zero padding", () => {
    expect(nonceMatches(Buffer.alloc(0), hash).ok).toBe(false);
    expect(nonceMatches(hash.subarray(0, 16), hash).ok).toBe(false);
    expect(nonceMatches(Buffer.concat([hash, Buffer.alloc(15), Buffer.from([1])]), hash).ok).toBe(false);
  });
});

describe("AK allow-list configuration", () => {
  it("normalises fingerprints and refuses malformed ones at construction", () => {
    expect(normalizeFingerprint(" AB:" + "cd".repeat(31) + " ")).toBe("ab" + "cd".repeat(31));
    expect(() => new TpmVerifier({ trustedAkFingerprints: ["abc"] })).toThrow(TpmConfigError);
    expect(() => new TpmVerifier({ ekRoots: { roots: ["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"] } })).toThrow(TpmConfigError);
    expect(() => new TpmVerifier({ ekRoots: { roots: [] } })).toThrow(TpmConfigError);
    expect(() => new TpmVerifier({ requireEkCert: true })).toThrow(TpmConfigError);
  });

  it("reads Trustee's trusted_ak_keys_dir layout (*.pub PEM files)", async () => {
    const { generateKeyPairSync } = await import("node:crypto");
    const dir = await mkdtemp(join(tmpdir(), "propeller-aks-"));
    try {
      const a = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey;
      const b = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
      await writeFile(join(dir, "a.pub"), a.export({ type: "spki", format: "pem" }));
      await writeFile(join(dir, "b.pub"), b.export({ type: "spki", format: "pem" }));
      await writeFile(join(dir, "notes.txt"), "ignored");
      expect(fingerprintsFromDir(dir)).toEqual([akFingerprint(a), akFingerprint(b)]);
      expect(() => fingerprintsFromDir(dir, 1)).toThrow(TpmConfigError);
      await writeFile(join(dir, "c.pub"), "not a key");
      expect(() => fingerprintsFromDir(dir)).toThrow(TpmConfigError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
