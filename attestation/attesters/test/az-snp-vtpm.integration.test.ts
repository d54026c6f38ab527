// The Azure SNP vTPM attester against a real software TPM (swtpm): the TPM half for real (an RSA
// attestation key at Azure's handle, a quote over all 24 SHA-256 PCRs with the KBS's report data),
// the HCL report and VCEK from a real Azure capture in the vectors. Its evidence goes to the
// verifier, which must find everything in order except the one binding only Azure's paravisor can
// make: the quote's key is this swtpm's, not the HCLAkPub the captured report vouches for.
import { createHash, randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { writeFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeWithSwtpm, startSwtpm, type Swtpm } from "../../../testing/swtpm.js";
import { readVector, vectorsAvailable } from "../../../testing/vectors.js";
import { AzSnpVtpmVerifier } from "../../az-snp-vtpm/verifier.js";
import { appraised } from "../../appraisal/testing/appraised.js";
import { AZURE_AK_HANDLE, AZURE_HCL_REPORT_NV_INDEX, AzSnpVtpmAttester } from "../az-snp-vtpm.js";

const failed = (r: { checks: { name: string; ok: boolean }[] }) => r.checks.filter((c) => !c.ok).map((c) => c.name);
const AZ = (f: string) => readVector(`azure-snp-vtpm/trustee/${f}`);
/** The capture's VCEK is valid from 2023-05-02. */
const T = new Date("2025-06-01T00:00:00Z");

describeWithSwtpm("Azure SNP vTPM attester on a real swtpm", () => {
  let tpm: Swtpm;
  let dir: string;
  let thim: Server;
  let thimUrl: string;
  const thimHeaders: string[] = [];
  const leafPem = () => AZ("vcek.pem").toString("utf8").match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/)![0];

  beforeAll(async () => {
    tpm = await startSwtpm();
    dir = await mkdtemp(join(tmpdir(), "propeller-azvtpm-test-"));
    // What Azure's platform provisions: an RSA signing key at 0x81000003.
    await tpm.tool("tpm2_createprimary", ["-C", "o", "-G", "rsa", "-c", "primary.ctx"], dir);
    await tpm.tool("tpm2_flushcontext", ["-t"], dir);
    await tpm.tool("tpm2_create", ["-C", "primary.ctx", "-G", "rsa2048:rsassa-sha256:null", "-a", "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign", "-u", "ak.pub", "-r", "ak.priv"], dir);
    await tpm.tool("tpm2_flushcontext", ["-t"], dir);
    await tpm.tool("tpm2_load", ["-C", "primary.ctx", "-u", "ak.pub", "-r", "ak.priv", "-c", "ak.ctx"], dir);
    await tpm.tool("tpm2_evictcontrol", ["-C", "o", "-c", "ak.ctx", `0x${AZURE_AK_HANDLE.toString(16)}`], dir);
    await tpm.tool("tpm2_flushcontext", ["-t"], dir);
    // THIM as Azure's IMDS serves it (only with the Metadata header).
    thim = createServer((req, res) => {
      thimHeaders.push(String(req.headers.metadata));
      if (req.headers.metadata !== "true") return void res.writeHead(400).end("Metadata header required");
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ vcekCert: leafPem(), certificateChain: "", tcbm: "" }));
    });
    await new Promise<void>((r) => thim.listen(0, "127.0.0.1", () => r()));
    thimUrl = `http://127.0.0.1:${(thim.address() as AddressInfo).port}/metadata/THIM/amd/certification`;
  }, 120_000);

  afterAll(async () => {
    await tpm?.dispose();
    await new Promise<void>((r) => (thim ? thim.close(() => r()) : r()));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("produces evidence the verifier reads whole: SNP report, VCEK, var_data, PCRs and nonce check; only the quote key differs from the captured HCLAkPub", async (context) => {
    if (!vectorsAvailable()) return context.skip("the vectors folder is missing");
    const attester = new AzSnpVtpmAttester({ tcti: tpm.tcti, vcek: { thimUrl }, readHclReport: async () => AZ("hcl-report.bin") });
    const reportData = createHash("sha384").update(randomBytes(16)).digest();
    const evidence = (await attester.evidence(reportData)) as Record<string, unknown>;
    expect(evidence.version).toBe(1);
    expect(thimHeaders).toEqual(["true"]);
    const r = await appraised(new AzSnpVtpmVerifier()).verify(evidence, { now: T, reportData });
    expect(failed(r)).toEqual(["az.tpm.signature"]);
    const names = r.checks.map((c) => c.name);
    for (const n of ["snp.signature", "snp.chain.vek", "snp.chip_id", "az.var_data", "az.tpm.pcr_digest", "az.tpm.nonce"]) expect(names).toContain(n);
    // A second call reuses the VCEK (THIM asked once) and quotes afresh.
    const again = (await attester.evidence(reportData)) as { tpm_quote: { message: string } };
    expect(thimHeaders).toHaveLength(1);
    expect(again.tpm_quote.message).not.toBe((evidence.tpm_quote as { message: string }).message);
  });

  it("reads the HCL report from NV index 0x01400001, and says what is wrong on a machine without one", async () => {
    const vcekFile = join(dir, "vcek.pem");
    await writeFile(vcekFile, vectorsAvailable() ? leafPem() : "");
    const index = `0x0${AZURE_HCL_REPORT_NV_INDEX.toString(16)}`;
    const attester = new AzSnpVtpmAttester({ tcti: tpm.tcti, vcek: { file: vcekFile } });
    // No such index yet: not an Azure CVM.
    await expect(attester.evidence(Buffer.alloc(48, 1))).rejects.toThrow(/HCL report from NV index 0x01400001.*Azure confidential VM/);
    // swtpm caps an index at 2 KiB (an Azure report is 2.6 KiB): a report-shaped prefix is read back whole.
    const fake = Buffer.concat([Buffer.from("HCLA"), randomBytes(2044)]);
    await writeFile(join(dir, "fake-hcl.bin"), fake);
    await tpm.tool("tpm2_nvdefine", [index, "-C", "o", "-s", String(fake.byteLength), "-a", "ownerread|ownerwrite|authread|authwrite"], dir);
    await tpm.tool("tpm2_nvwrite", [index, "-C", "o", "-i", "fake-hcl.bin"], dir);
    if (!vectorsAvailable()) return;
    const evidence = (await attester.evidence(Buffer.alloc(48, 1))) as { hcl_report: string };
    expect(Buffer.from(evidence.hcl_report, "base64url").equals(fake)).toBe(true);
  });

  it("refuses report data that does not fit a quote, and an AK that is not there", async () => {
    const attester = new AzSnpVtpmAttester({ tcti: tpm.tcti, vcek: { thimUrl }, readHclReport: async () => Buffer.concat([Buffer.from("HCLA"), Buffer.alloc(2000)]), akHandle: 0x81000099 });
    await expect(attester.evidence(Buffer.alloc(65))).rejects.toThrow(/does not fit/);
    await expect(attester.evidence(Buffer.alloc(48))).rejects.toThrow(/attestation key at 0x81000099/);
  });
});
