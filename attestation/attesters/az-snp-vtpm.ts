/**
 * The attester of an Azure SEV-SNP confidential VM (tee `az-snp-vtpm`), the counterpart of
 * attestation/az-snp-vtpm's verifier. On such a VM the paravisor (HCL) holds an SNP report in the
 * vTPM's NV index 0x01400001 whose REPORT_DATA binds the vTPM attestation key (HCLAkPub, at
 * persistent handle 0x81000003); freshness comes from a TPM quote by that key over the PCRs with
 * the KBS's report data as qualifying data. The VCEK comes from Azure's instance metadata service
 * (THIM), which serves the certificate for this very chip and TCB.
 *
 * Evidence is Trustee's format v1: `{version: 1, tpm_quote: {signature, message, pcrs} (hex),
 * hcl_report (base64url), vcek (base64url DER)}`.
 */
import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { readBounded } from "../../lib/bounded-read.js";
import { messageOf } from "../../lib/errors.js";
import type { Attester } from "../attester.js";
import { decodeAzSnpVtpmEvidence } from "../az-snp-vtpm/evidence.js";
import { TPM_ALG } from "../tpm/alg.js";
import { parseQuote } from "../tpm/attest.js";
import { computePcrDigest } from "../tpm/pcrs.js";
import { ToolQueue, TpmToolError, validateTcti, type ToolRunner } from "./tpm2-tools.js";

/** Where Azure's paravisor keeps the HCL report, and where the vTPM AK persists. */
export const AZURE_HCL_REPORT_NV_INDEX = 0x01400001;
export const AZURE_AK_HANDLE = 0x81000003;
/** Azure IMDS, Trusted Hardware Identity Management: this VM's VCEK and its chain. */
export const AZURE_THIM_URL = "http://169.254.169.254/metadata/THIM/amd/certification";

/** Largest HCL report read (Azure's are ~2.6 KiB). */
const MAX_HCL_REPORT_BYTES = 16 * 1024;
/** The TPM's qualifying data holds at most one digest (64 bytes). */
const MAX_NONCE_BYTES = 64;

export interface AzSnpVtpmAttesterOptions {
  /** Default `device:/dev/tpmrm0`, the vTPM through the kernel's resource manager. */
  tcti?: string;
  hclReportIndex?: number;
  akHandle?: number;
  /** SHA-256 PCRs 0..pcrCount-1 are quoted (default 24, all). */
  pcrCount?: number;
  /** Where the VCEK comes from: THIM (default) or a PEM/DER file (offline, tests). */
  vcek?: { thimUrl?: string } | { file: string };
  /**
   * Reads the HCL report; default `tpm2_nvread` of `hclReportIndex`. (A software TPM caps an NV
   * index at 2 KiB, under an Azure report's size, so tests of the rest hand the report in here.)
   */
  readHclReport?: (run: ToolRunner) => Promise<Buffer>;
  timeoutMs?: number;
  logger?: Logger;
}

export class AzSnpVtpmAttesterError extends TpmToolError {}

const hexHandle = (h: number) => `0x${h.toString(16).padStart(8, "0")}`;

export class AzSnpVtpmAttester implements Attester {
  readonly tee = "az-snp-vtpm" as const;
  private readonly tcti: string;
  private readonly timeoutMs: number;
  private readonly pcrCount: number;
  private vcekDer: Promise<Buffer> | undefined;
  private readonly tools: ToolQueue;

  constructor(private readonly options: AzSnpVtpmAttesterOptions = {}) {
    this.tcti = validateTcti(options.tcti ?? "device:/dev/tpmrm0");
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.pcrCount = options.pcrCount ?? 24;
    if (!Number.isInteger(this.pcrCount) || this.pcrCount < 1 || this.pcrCount > 24) throw new AzSnpVtpmAttesterError(`pcrCount ${this.pcrCount} is not 1..24`);
    this.tools = new ToolQueue(this.tcti, this.timeoutMs, "propeller-azvtpm-");
  }

  async evidence(reportData: Uint8Array): Promise<unknown> {
    if (reportData.byteLength === 0 || reportData.byteLength > MAX_NONCE_BYTES) {
      throw new AzSnpVtpmAttesterError(`report data of ${reportData.byteLength} bytes does not fit the TPM quote's qualifying data (1..${MAX_NONCE_BYTES})`);
    }
    const [vcek, quoted] = await Promise.all([this.vcek(), this.tools.run((run, dir) => this.quote(run, dir, Buffer.from(reportData)))]);
    const evidence = {
      version: 1,
      tpm_quote: { signature: quoted.signature.toString("hex"), message: quoted.message.toString("hex"), pcrs: quoted.pcrs.map((p) => p.toString("hex")) },
      hcl_report: quoted.hclReport.toString("base64url"),
      vcek: vcek.toString("base64url"),
    };
    // What leaves must be what the verifier reads: a shape error is ours, say so here.
    decodeAzSnpVtpmEvidence(evidence);
    return evidence;
  }

  private async quote(run: ToolRunner, dir: string, nonce: Buffer): Promise<{ hclReport: Buffer; message: Buffer; signature: Buffer; pcrs: Buffer[] }> {
    const hclReport = await (this.options.readHclReport ?? ((r) => this.readHclReportFromNv(r, dir)))(run);
    if (hclReport.byteLength < 0x4d4 || hclReport.subarray(0, 4).toString("latin1") !== "HCLA") {
      throw new AzSnpVtpmAttesterError(`NV index ${hexHandle(this.options.hclReportIndex ?? AZURE_HCL_REPORT_NV_INDEX)} holds no HCL report (no HCLA header): is this an Azure confidential VM?`);
    }
    const selection = `sha256:${Array.from({ length: this.pcrCount }, (_, i) => i).join(",")}`;
    const ak = hexHandle(this.options.akHandle ?? AZURE_AK_HANDLE);
    // The quote and the PCR read are two commands: a PCR extended between them is caught by
    // recomputing the quoted digest, and the quote is taken again.
    for (let attempt = 1; ; attempt++) {
      try {
        await run("tpm2_quote", ["-c", ak, "-l", selection, "-q", nonce.toString("hex"), "-m", "quote.msg", "-s", "quote.sig", "-f", "plain", "-g", "sha256"]);
      } catch (err) {
        throw new AzSnpVtpmAttesterError(`quoting with the vTPM attestation key at ${ak} failed (${messageOf(err)}); on Azure the platform provisions it`);
      }
      await run("tpm2_flushcontext", ["-t"]);
      await run("tpm2_pcrread", [selection, "-o", "pcrs.bin"]);
      const [message, signature, pcrBytes] = (await Promise.all(["quote.msg", "quote.sig", "pcrs.bin"].map((f) => readFile(join(dir, f))))) as [Buffer, Buffer, Buffer];
      if (pcrBytes.byteLength !== 32 * this.pcrCount) throw new AzSnpVtpmAttesterError(`tpm2_pcrread wrote ${pcrBytes.byteLength} bytes for ${this.pcrCount} SHA-256 PCRs`);
      const pcrs = Array.from({ length: this.pcrCount }, (_, i) => pcrBytes.subarray(i * 32, i * 32 + 32));
      const quote = parseQuote(message).quote;
      if (computePcrDigest(quote.pcrSelect, { sha256: pcrs }, TPM_ALG.SHA256).equals(quote.pcrDigest) || attempt >= 3) return { hclReport, message, signature, pcrs };
      this.options.logger?.debug({ attempt }, "PCRs changed between quote and read; quoting again");
    }
  }

  private async readHclReportFromNv(run: ToolRunner, dir: string): Promise<Buffer> {
    const index = hexHandle(this.options.hclReportIndex ?? AZURE_HCL_REPORT_NV_INDEX);
    try {
      await run("tpm2_nvread", ["-C", "o", index, "-o", "hcl.bin"]);
    } catch (err) {
      throw new AzSnpVtpmAttesterError(`reading the HCL report from NV index ${index} failed (${messageOf(err)}): is this an Azure confidential VM?`);
    }
    const bytes = await readFile(join(dir, "hcl.bin"));
    if (bytes.byteLength > MAX_HCL_REPORT_BYTES) throw new AzSnpVtpmAttesterError(`the HCL report is ${bytes.byteLength} bytes, more than ${MAX_HCL_REPORT_BYTES}`);
    return bytes;
  }

  /** The VCEK, DER; fetched once (it changes only with the chip's TCB, i.e. a new VM). */
  private vcek(): Promise<Buffer> {
    if (!this.vcekDer) {
      const p = this.loadVcek();
      this.vcekDer = p;
      p.catch(() => {
        if (this.vcekDer === p) this.vcekDer = undefined;
      });
    }
    return this.vcekDer;
  }

  private async loadVcek(): Promise<Buffer> {
    const source = this.options.vcek ?? {};
    if ("file" in source) return toDer(await readFile(source.file), source.file);
    const url = source.thimUrl ?? AZURE_THIM_URL;
    let body: unknown;
    try {
      const res = await fetch(url, { headers: { Metadata: "true" }, signal: AbortSignal.timeout(this.timeoutMs), redirect: "error" });
      if (!res.ok) throw new Error(`answered ${res.status}`);
      body = JSON.parse(Buffer.from(await readBounded(res.body, { maxBytes: 64 * 1024 })).toString("utf8"));
    } catch (err) {
      throw new AzSnpVtpmAttesterError(`fetching this VM's VCEK from ${url} failed (${messageOf(err)}); give vcek.file to use a saved one`);
    }
    const pem = (body as { vcekCert?: unknown }).vcekCert;
    if (typeof pem !== "string") throw new AzSnpVtpmAttesterError(`${url} answered without vcekCert`);
    return toDer(Buffer.from(pem), url);
  }

}

/** A certificate as PEM (the first one) or DER → DER, checked to parse. */
function toDer(bytes: Buffer, from: string): Buffer {
  try {
    return Buffer.from(new X509Certificate(bytes).raw);
  } catch (err) {
    throw new AzSnpVtpmAttesterError(`${from} holds no X.509 certificate (${messageOf(err)})`);
  }
}
