import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeWithSwtpm, startSwtpm, type Swtpm } from "../../../testing/swtpm.js";
import { TpmVerifier } from "../../tpm/verifier.js";
import { TpmAttester } from "../tpm.js";
import { TpmToolError } from "../tpm2-tools.js";

const logger = pino({ level: "silent" });

function failed(result: { checks: Array<{ name: string; ok: boolean }> }): string[] {
  return result.checks.filter((c) => !c.ok).map((c) => c.name);
}

/** What the KBS binds: SHA-384 of the runtime data (48 bytes). */
function reportData(): Buffer {
  return createHash("sha384").update(randomBytes(32)).digest();
}

describeWithSwtpm("TPM attester against a real swtpm, verified by the TPM verifier", () => {
  let tpm: Swtpm;
  let attester: TpmAttester;
  let fingerprint: string;
  let verifier: TpmVerifier;

  beforeAll(async () => {
    tpm = await startSwtpm();
    attester = new TpmAttester({ tcti: tpm.tcti, logger });
    const ak = await attester.provision();
    expect(ak.created).toBe(true);
    fingerprint = ak.fingerprint;
    verifier = new TpmVerifier({ trustedAkFingerprints: [fingerprint] });
  });

  afterAll(async () => {
    await tpm?.dispose();
  });

  it("provisions once: a second attester (and a restarted TPM) reuse the persisted AK", async () => {
    const again = await new TpmAttester({ tcti: tpm.tcti, logger }).provision();
    expect(again).toMatchObject({ created: false, fingerprint, handle: 0x81010002 });
    expect(again.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    const persistent = await tpm.tool("tpm2_getcap", ["handles-persistent"]);
    expect(persistent).toContain("0x81010001");
    expect(persistent).toContain("0x81010002");
    await tpm.stop();
    await tpm.start();
    const afterRestart = await new TpmAttester({ tcti: tpm.tcti, logger }).provision();
    expect(afterRestart).toMatchObject({ created: false, fingerprint });
  });

  it("quotes with the nonce and the evidence verifies; the shape is Trustee's", async () => {
    const rd = reportData();
    const evidence = await attester.evidence(rd);
    expect(Object.keys(evidence).sort()).toEqual(["ak_public", "tpm_quote"]);
    expect(Object.keys(evidence.tpm_quote).sort()).toEqual(["message", "pcrs", "signature"]);
    expect(evidence.tpm_quote.pcrs).toHaveLength(24);
    // ak_public is base64 DER SPKI: the fingerprint the attester prints is over the same key.
    const result = await verifier.verify(evidence, { reportData: rd });
    expect(failed(result)).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.claims).toMatchObject({ ak_fingerprint: fingerprint, ak_trusted: true, software_tpm: true, firmware_version: "2019102300163636", signature_alg: "rsassa/sha256" });
    // extraData is the 48-byte hash zero-padded to 64, as guest-components sends it.
    expect(result.claims.report_data).toBe(rd.toString("hex") + "00".repeat(16));
  });

  it("a quote over one nonce fails tpm.nonce against another", async () => {
    const evidence = await attester.evidence(reportData());
    const result = await verifier.verify(evidence, { reportData: reportData() });
    expect(failed(result)).toEqual(["tpm.nonce"]);
  });

  it("stale PCR values after tpm2_pcrextend fail tpm.pcr_digest; a fresh quote shows the new PCR", async () => {
    const rd = reportData();
    const before = await attester.evidence(rd);
    const digest = randomBytes(32);
    await tpm.tool("tpm2_pcrextend", [`7:sha256=${digest.toString("hex")}`]);
    const expectedPcr7 = createHash("sha256").update(Buffer.from(before.tpm_quote.pcrs[7]!, "hex")).update(digest).digest("hex");

    // The old quote with the PCR values as they are now: the digest no longer matches.
    const dir = await mkdtemp(join(tmpdir(), "propeller-tpm-test-"));
    try {
      await tpm.tool("tpm2_pcrread", ["sha256:" + Array.from({ length: 24 }, (_, i) => i).join(","), "-o", "now.bin"], dir);
      const { readFile } = await import("node:fs/promises");
      const now = await readFile(join(dir, "now.bin"));
      const pcrsNow = Array.from({ length: 24 }, (_, i) => now.subarray(i * 32, i * 32 + 32).toString("hex"));
      expect(pcrsNow[7]).toBe(expectedPcr7);
      const stale = { ...before, tpm_quote: { ...before.tpm_quote, pcrs: pcrsNow } };
      expect(failed(await verifier.verify(stale, { reportData: rd }))).toEqual(["tpm.pcr_digest"]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    // The original evidence (quote + the PCRs it covered) is still self-consistent.
    expect((await verifier.verify(before, { reportData: rd })).ok).toBe(true);

    const after = await attester.evidence(rd);
    const result = await verifier.verify(after, { reportData: rd });
    expect(result.ok).toBe(true);
    expect(result.claims.pcrs["7"]).toBe(expectedPcr7);
  });

  it("the AK allow-list decides: another fingerprint or none fails tpm.ak_trusted", async () => {
    const rd = reportData();
    const evidence = await attester.evidence(rd);
    expect(failed(await new TpmVerifier({ trustedAkFingerprints: ["00".repeat(32)] }).verify(evidence, { reportData: rd }))).toEqual(["tpm.ak_trusted"]);
    expect(failed(await new TpmVerifier().verify(evidence, { reportData: rd }))).toEqual(["tpm.ak_trusted"]);
    const dev = await new TpmVerifier({ acceptAnyAk: true }).verify(evidence, { reportData: rd });
    expect(dev.ok).toBe(true);
    expect(dev.claims.ak_trusted).toBe(false);
  });

  it("serialises concurrent calls (no resource manager: transient slots would run out)", async () => {
    const rds = [reportData(), reportData(), reportData(), reportData()];
    const all = await Promise.all(rds.map((rd) => attester.evidence(rd)));
    for (const [i, ev] of all.entries()) expect((await verifier.verify(ev, { reportData: rds[i]! })).ok).toBe(true);
  });

  it("quotes with 32-byte report data and fewer PCRs when configured", async () => {
    const short = new TpmAttester({ tcti: tpm.tcti, logger, reportDataLength: 32, pcrCount: 8 });
    const rd = reportData();
    const evidence = await short.evidence(rd);
    expect(evidence.tpm_quote.pcrs).toHaveLength(8);
    const result = await verifier.verify(evidence, { reportData: rd });
    expect(result.ok).toBe(true);
    expect(result.claims.report_data).toBe(rd.subarray(0, 32).toString("hex"));
    expect(Object.keys(result.claims.pcrs)).toEqual(["0", "1", "2", "3", "4", "5", "6", "7"]);
  });

  it("ECDSA and RSAPSS AKs at other handles produce quotes that verify", async () => {
    for (const [ak, handle, alg] of [
      [{ alg: "ecc", scheme: "ecdsa" }, 0x81010003, "ecdsa/sha256"],
      [{ alg: "rsa", scheme: "rsapss" }, 0x81010004, "rsapss/sha256"],
    ] as const) {
      const a = new TpmAttester({ tcti: tpm.tcti, logger, ak, akHandle: handle });
      const info = await a.provision();
      const rd = reportData();
      const result = await new TpmVerifier({ trustedAkFingerprints: [info.fingerprint] }).verify(await a.evidence(rd), { reportData: rd });
      expect(failed(result)).toEqual([]);
      expect(result.claims.signature_alg).toBe(alg);
      // The existing AK is not silently reused with another configured type.
      await expect(new TpmAttester({ tcti: tpm.tcti, logger, akHandle: handle }).provision()).rejects.toThrow(/configured rsa\/rsassa/);
    }
  });

  it("refuses to use an unrestricted signing key as AK (it could sign forged quotes)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "propeller-tpm-test-"));
    try {
      await tpm.tool("tpm2_createprimary", ["-C", "o", "-G", "rsa", "-a", "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign", "-c", "k.ctx"], dir);
      await tpm.tool("tpm2_evictcontrol", ["-C", "o", "-c", "k.ctx", "0x81010010"], dir);
      await tpm.tool("tpm2_flushcontext", ["-t"]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const bad = new TpmAttester({ tcti: tpm.tcti, logger, akHandle: 0x81010010 });
    await expect(bad.evidence(reportData())).rejects.toThrow(/restricted is missing/);
  });

  it("after the AK is evicted, one call fails and the next provisions a new AK", async () => {
    const a = new TpmAttester({ tcti: tpm.tcti, logger, akHandle: 0x81010005 });
    const first = await a.provision();
    await tpm.tool("tpm2_evictcontrol", ["-C", "o", "-c", "0x81010005"]);
    await expect(a.evidence(reportData())).rejects.toBeInstanceOf(TpmToolError);
    const second = await a.provision();
    expect(second.created).toBe(true);
    expect(second.fingerprint).not.toBe(first.fingerprint);
    const rd = reportData();
    const result = await new TpmVerifier({ trustedAkFingerprints: [second.fingerprint] }).verify(await a.evidence(rd), { reportData: rd });
    expect(result.ok).toBe(true);
    // The old AK's enrolment no longer admits this TPM's quotes.
    expect(failed(await new TpmVerifier({ trustedAkFingerprints: [first.fingerprint] }).verify(await a.evidence(rd), { reportData: rd }))).toEqual(["tpm.ak_trusted"]);
  });

  it("removes its private work directories", async () => {
    const saved = process.env.TMPDIR;
    const dir = await mkdtemp(join(tmpdir(), "propeller-tmpdir-"));
    process.env.TMPDIR = dir;
    try {
      expect(tmpdir()).toBe(dir);
      await new TpmAttester({ tcti: tpm.tcti, logger }).evidence(reportData());
      expect(await readdir(dir)).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses bad TCTIs and handles; an unreachable TPM is a TpmToolError", async () => {
    expect(() => new TpmAttester({ tcti: "swtpm:host=127.0.0.1,port=1;rm -rf /" })).toThrow(TpmToolError);
    expect(() => new TpmAttester({ tcti: "device:/etc/passwd" })).toThrow(TpmToolError);
    expect(() => new TpmAttester({ tcti: tpm.tcti, akHandle: 0x80000001 })).toThrow(TpmToolError);
    const gone = new TpmAttester({ tcti: "swtpm:host=127.0.0.1,port=1", logger, timeoutMs: 5000 });
    await expect(gone.evidence(reportData())).rejects.toBeInstanceOf(TpmToolError);
  });
});
