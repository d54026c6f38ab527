import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { canonicalSha384 } from "../../../protocol/jcs.js";
import { SampleAttester } from "../../attesters/sample.js";
import { EvidenceFormatError } from "../../errors.js";
import { SampleVerifier } from "../verify.js";

const verifier = new SampleVerifier();

describe("sample TEE: attester → verifier", () => {
  it("produces KBS-PROTOCOL.md's worked example byte for byte", async () => {
    const runtimeData = {
      "additional-evidence": "",
      nonce: "bm9uY2U=",
      "tee-pubkey": { alg: "ECDH-ES+A256KW", crv: "P-256", kty: "EC", x: "AAAA", y: "BBBB" },
    };
    const hash = canonicalSha384(runtimeData);
    expect(hash.toString("hex")).toBe("d20490d30e5f16cba693abc1ca3c31ed977d2722d0adf01a980972d16913dc38f103c1f12abf477df0523af2b12e4b43");
    const evidence = await new SampleAttester().evidence(hash);
    expect(JSON.stringify(evidence)).toBe('{"svn":"1","report_data":"0gSQ0w5fFsumk6vByjwx7Zd9JyLQrfAamAly0WkT3DjxA8HxKr9HffBSOvKxLktD"}');
    const result = await verifier.verify(evidence, { reportData: hash });
    expect(result.ok).toBe(true);
    expect(result.tee).toBe("sample");
    expect(result.checks).toEqual([{ name: "sample.report_data", ok: true, detail: "report_data equals the expected report data" }]);
    expect(result.claims).toEqual({
      sample_tee: true,
      hardware_backed: false,
      svn: 1,
      report_data: hash.toString("hex"),
      warnings: ["sample_tee_unsigned"],
    });
  });

  it("round-trips random report data and a configured svn", async () => {
    const rd = createHash("sha384").update(randomBytes(16)).digest();
    const result = await verifier.verify(await new SampleAttester({ svn: 7 }).evidence(rd), { reportData: rd });
    expect(result.ok).toBe(true);
    expect(result.claims.svn).toBe(7);
  });

  it("fails sample.report_data for other report data, a shorter prefix, or no expectation", async () => {
    const rd = createHash("sha384").update(randomBytes(16)).digest();
    const evidence = await new SampleAttester().evidence(rd);
    const other = Buffer.from(rd);
    other[47] = (other[47] ?? 0) ^ 1;
    const wrong = await verifier.verify(evidence, { reportData: other });
    expect(wrong.ok).toBe(false);
    expect(wrong.checks.map((c) => [c.name, c.ok])).toEqual([["sample.report_data", false]]);
    // Evidence that carries only part of the hash does not bind it.
    const truncated = await verifier.verify(await new SampleAttester().evidence(rd.subarray(0, 16)), { reportData: rd });
    expect(truncated.ok).toBe(false);
    expect(truncated.checks[0]!.detail).toMatch(/at least 32/);
    const unbound = await verifier.verify(evidence, {});
    expect(unbound.ok).toBe(false);
    expect(unbound.checks[0]!.name).toBe("sample.report_data");
    // Even a failing result says what it is.
    expect(unbound.claims.sample_tee).toBe(true);
  });

  it("throws EvidenceFormatError for malformed evidence", async () => {
    const rd = Buffer.alloc(48, 1);
    for (const bad of [
      null,
      [],
      {},
      { svn: 1, report_data: rd.toString("base64") },
      { svn: "1" },
      { svn: "one", report_data: rd.toString("base64") },
      { svn: "1", report_data: "not base64!" },
      { svn: "1", report_data: Buffer.alloc(200).toString("base64") },
      { svn: "1", report_data: rd.toString("base64"), extra: true },
    ]) {
      await expect(verifier.verify(bad, { reportData: rd })).rejects.toBeInstanceOf(EvidenceFormatError);
    }
  });

  it("the attester refuses empty or oversized report data", async () => {
    await expect(new SampleAttester().evidence(new Uint8Array(0))).rejects.toBeInstanceOf(EvidenceFormatError);
    await expect(new SampleAttester().evidence(new Uint8Array(65))).rejects.toBeInstanceOf(EvidenceFormatError);
  });
});
