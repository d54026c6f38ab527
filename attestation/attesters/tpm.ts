import { X509Certificate, createPublicKey } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { fitReportData, type Attester } from "../attester.js";
import { akFingerprint } from "../tpm/ak.js";
import { parseQuote } from "../tpm/attest.js";
import { decodeTpmEvidence, type TpmEvidenceJson } from "../tpm/evidence.js";
import { computePcrDigest } from "../tpm/pcrs.js";
import { parseSignature } from "../tpm/signature.js";
import { TpmToolError, ToolQueue, validateTcti, type ToolRunner } from "./tpm2-tools.js";
import { messageOf } from "../../lib/errors.js";

/** guest-components' default AK handle (AA_TPM_AK_HANDLE), so both agents share one AK. */
export const DEFAULT_AK_HANDLE = 0x81010002;
/** The TCG-reserved persistent handle of the RSA EK (TCG EK Credential Profile). */
export const DEFAULT_EK_HANDLE = 0x81010001;

export type AkKind = { alg: "rsa"; scheme: "rsassa" | "rsapss" } | { alg: "ecc"; scheme: "ecdsa" };

export interface TpmAttesterOptions {
  /** `swtpm:host=127.0.0.1,port=P`, `device:/dev/tpmrm0`, … (validated). */
  tcti: string;
  akHandle?: number;
  ekHandle?: number;
  /** Key type of a newly created AK. Trustee's verifier accepts only RSA/RSASSA (the default). */
  ak?: AkKind;
  /**
   * Quote SHA-256 PCRs 0..pcrCount-1 (default 24, all of them). Always a prefix: Trustee hashes the
   * `pcrs` array in order and labels its entries by position, so the array must be exactly the
   * quoted PCRs, starting at 0.
   */
  pcrCount?: number;
  /**
   * Length the report data is fitted to in extraData: 64 (default; the SHA-384 hash zero-padded,
   * as guest-components does and Trustee's verifier expects) or 32 (KBS-PROTOCOL.md).
   */
  reportDataLength?: 32 | 64;
  /**
   * Read the EK certificate from NV (`ekCertNvIndex`, default the TCG RSA-2048 EK index
   * 0x01c00002) and send it as `ek_cert`. The certificate must certify the EK at `ekHandle`.
   */
  includeEkCert?: boolean;
  ekCertNvIndex?: number;
  /** Per tpm2-tools command. */
  timeoutMs?: number;
  logger?: Logger;
}

export interface AkInfo {
  handle: number;
  publicKeyPem: string;
  /** DER SubjectPublicKeyInfo, base64: the evidence's `ak_public`. */
  spkiBase64: string;
  /** SHA-256 of the SPKI, hex: what an operator puts in the verifier's `trustedAkFingerprints`. */
  fingerprint: string;
  /** True when this call created and persisted the AK; false when it reused the persistent one. */
  created: boolean;
  /** The EK certificate (base64 DER) when `includeEkCert` is set. */
  ekCertBase64?: string;
}

/** TCG EK Credential Profile: NV index of the RSA-2048 EK certificate. */
export const DEFAULT_EK_CERT_NV_INDEX = 0x01c00002;

/** NV areas may be larger than the certificate (vendors pad); the DER header gives its length. */
function trimDer(bytes: Buffer): Buffer {
  if (bytes.byteLength < 4 || bytes[0] !== 0x30) throw new TpmToolError("the EK certificate NV area does not hold a DER certificate");
  const first = bytes[1] ?? 0;
  let length: number;
  let header: number;
  if (first < 0x80) {
    length = first;
    header = 2;
  } else {
    const n = first & 0x7f;
    if (n < 1 || n > 3 || bytes.byteLength < 2 + n) throw new TpmToolError("the EK certificate has an unusable DER length");
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + (bytes[2 + i] ?? 0);
    header = 2 + n;
  }
  if (header + length > bytes.byteLength) throw new TpmToolError("the EK certificate is truncated in NV");
  return bytes.subarray(0, header + length);
}

const PERSISTENT_MIN = 0x81000000;
const PERSISTENT_MAX = 0x817fffff;
/** Quote and PCR read are two commands; if a PCR is extended between them we read again. */
const QUOTE_ATTEMPTS = 3;

function hexHandle(h: number): string {
  return `0x${h.toString(16).padStart(8, "0")}`;
}

function checkHandle(h: number, what: string): number {
  if (!Number.isInteger(h) || h < PERSISTENT_MIN || h > PERSISTENT_MAX) {
    throw new TpmToolError(`${what} ${h} is not an owner persistent handle (0x81000000-0x817fffff)`);
  }
  return h;
}

/** The YAML value of `key:\n  value: X` as tpm2_readpublic prints it. */
function yamlValue(text: string, key: string): string | undefined {
  const m = new RegExp(`^${key}:\\s*\\n\\s+value:\\s*(\\S+)`, "m").exec(text);
  return m?.[1];
}

/**
 * Produces TPM evidence with tpm2-tools, in the format Trustee's TPM verifier (and ours,
 * attestation/tpm) consume: `{ak_public, tpm_quote: {message, signature, pcrs}}`.
 *
 * Provisioning is idempotent: the AK persisted at `akHandle` is reused when present (after
 * checking it is a restricted, fixed signing key — an unrestricted key could sign forged quotes);
 * otherwise the EK (persisted at `ekHandle` if absent) and a new AK are created and the AK is
 * persisted. Calls are serialised per instance: without a resource manager, concurrent tools
 * would exhaust the TPM's transient object slots.
 */
export class TpmAttester implements Attester {
  readonly tee = "tpm" as const;
  private readonly tcti: string;
  private readonly akHandle: number;
  private readonly ekHandle: number;
  private readonly ak: AkKind;
  private readonly pcrCount: number;
  private readonly reportDataLength: 32 | 64;
  private readonly includeEkCert: boolean;
  private readonly ekCertNvIndex: number;
  private readonly timeoutMs: number;
  private readonly logger: Logger | undefined;
  private readonly tools: ToolQueue;
  private provisioned: Promise<AkInfo> | undefined;

  constructor(options: TpmAttesterOptions) {
    this.tcti = validateTcti(options.tcti);
    this.akHandle = checkHandle(options.akHandle ?? DEFAULT_AK_HANDLE, "akHandle");
    this.ekHandle = checkHandle(options.ekHandle ?? DEFAULT_EK_HANDLE, "ekHandle");
    if (this.akHandle === this.ekHandle) throw new TpmToolError("akHandle and ekHandle must differ");
    this.ak = options.ak ?? { alg: "rsa", scheme: "rsassa" };
    const okKind = (this.ak.alg === "rsa" && (this.ak.scheme === "rsassa" || this.ak.scheme === "rsapss")) || (this.ak.alg === "ecc" && this.ak.scheme === "ecdsa");
    if (!okKind) throw new TpmToolError(`AK kind ${JSON.stringify(this.ak)} is not supported`);
    this.pcrCount = options.pcrCount ?? 24;
    if (!Number.isInteger(this.pcrCount) || this.pcrCount < 1 || this.pcrCount > 24) {
      throw new TpmToolError(`pcrCount ${this.pcrCount} is not 1..24`);
    }
    this.reportDataLength = options.reportDataLength ?? 64;
    if (this.reportDataLength !== 32 && this.reportDataLength !== 64) throw new TpmToolError("reportDataLength must be 32 or 64");
    this.includeEkCert = options.includeEkCert ?? false;
    this.ekCertNvIndex = options.ekCertNvIndex ?? DEFAULT_EK_CERT_NV_INDEX;
    if (!Number.isInteger(this.ekCertNvIndex) || this.ekCertNvIndex < 0x01000000 || this.ekCertNvIndex > 0x01ffffff) {
      throw new TpmToolError(`ekCertNvIndex ${this.ekCertNvIndex} is not an NV index (0x01000000-0x01ffffff)`);
    }
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.logger = options.logger;
    this.tools = new ToolQueue(this.tcti, this.timeoutMs, "propeller-tpm-");
  }

  /** Runs `fn` after every earlier call finished, with a private work directory removed afterwards. */
  private exclusive<T>(fn: (run: ToolRunner, dir: string) => Promise<T>): Promise<T> {
    return this.tools.run(fn);
  }

  /** Ensures the EK and AK exist (creating and persisting them once) and returns the AK. */
  provision(): Promise<AkInfo> {
    if (!this.provisioned) {
      const p = this.exclusive((run, dir) => this.provisionLocked(run, dir));
      this.provisioned = p;
      // A failed attempt (TPM not reachable yet) must not poison later ones.
      p.catch(() => {
        if (this.provisioned === p) this.provisioned = undefined;
      });
    }
    return this.provisioned;
  }

  /** The AK's public key and fingerprint, provisioning first if needed. */
  akPublic(): Promise<AkInfo> {
    return this.provision();
  }

  private async persistentHandles(run: ToolRunner): Promise<Set<number>> {
    const out = await run("tpm2_getcap", ["handles-persistent"]);
    return new Set([...out.matchAll(/0x([0-9a-fA-F]{8})/g)].map((m) => parseInt(m[1] as string, 16)));
  }

  private async provisionLocked(run: ToolRunner, dir: string): Promise<AkInfo> {
    const info = await this.provisionAk(run, dir);
    if (!this.includeEkCert) return info;
    return { ...info, ekCertBase64: await this.readEkCert(run, dir) };
  }

  private async readEkCert(run: ToolRunner, dir: string): Promise<string> {
    await run("tpm2_nvread", [hexHandle(this.ekCertNvIndex), "-o", "ek.der"]);
    const der = trimDer(await readFile(join(dir, "ek.der")));
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(der);
    } catch (err) {
      throw new TpmToolError(`NV ${hexHandle(this.ekCertNvIndex)} does not hold an X.509 certificate: ${messageOf(err)}`);
    }
    // Sending a certificate for some other EK would be misleading evidence: check it is ours.
    await run("tpm2_readpublic", ["-c", hexHandle(this.ekHandle), "-f", "pem", "-o", "ek.pem"]);
    const ek = createPublicKey(await readFile(join(dir, "ek.pem"), "utf8"));
    const spki = (k: ReturnType<typeof createPublicKey>) => k.export({ type: "spki", format: "der" });
    if (!spki(cert.publicKey).equals(spki(ek))) {
      throw new TpmToolError(`the certificate in NV ${hexHandle(this.ekCertNvIndex)} is not for the EK at ${hexHandle(this.ekHandle)}`);
    }
    return der.toString("base64");
  }

  private async provisionAk(run: ToolRunner, dir: string): Promise<AkInfo> {
    const handles = await this.persistentHandles(run);
    if (handles.has(this.akHandle)) {
      const info = await this.readAk(run, dir, false);
      this.logger?.info({ akHandle: hexHandle(this.akHandle), fingerprint: info.fingerprint }, "reusing the persistent TPM attestation key");
      return info;
    }
    if (!handles.has(this.ekHandle)) {
      await run("tpm2_createek", ["-c", hexHandle(this.ekHandle), "-G", "rsa", "-u", "ek.pub"]);
      await run("tpm2_flushcontext", ["-t"]);
      this.logger?.info({ ekHandle: hexHandle(this.ekHandle) }, "created and persisted the TPM endorsement key");
    }
    await run("tpm2_createak", [
      "-C", hexHandle(this.ekHandle),
      "-c", "ak.ctx",
      "-G", this.ak.alg,
      "-g", "sha256",
      "-s", this.ak.scheme,
      "-u", "ak.pub",
      "-n", "ak.name",
    ]);
    await run("tpm2_flushcontext", ["-t"]);
    await run("tpm2_evictcontrol", ["-C", "o", "-c", "ak.ctx", hexHandle(this.akHandle)]);
    await run("tpm2_flushcontext", ["-t"]);
    const info = await this.readAk(run, dir, true);
    this.logger?.info({ akHandle: hexHandle(this.akHandle), fingerprint: info.fingerprint }, "created and persisted a TPM attestation key");
    return info;
  }

  private async readAk(run: ToolRunner, dir: string, created: boolean): Promise<AkInfo> {
    const yaml = await run("tpm2_readpublic", ["-c", hexHandle(this.akHandle), "-f", "pem", "-o", "ak.pem"]);
    const attributes = new Set((yamlValue(yaml, "attributes") ?? "").split("|"));
    for (const required of ["fixedtpm", "fixedparent", "sensitivedataorigin", "restricted", "sign"]) {
      if (!attributes.has(required)) {
        throw new TpmToolError(`the object at ${hexHandle(this.akHandle)} is not an attestation key: attribute ${required} is missing`, {
          attributes: [...attributes],
        });
      }
    }
    const type = yamlValue(yaml, "type");
    const scheme = yamlValue(yaml, "scheme");
    if (type !== this.ak.alg || scheme !== this.ak.scheme) {
      throw new TpmToolError(
        `the AK at ${hexHandle(this.akHandle)} is ${type}/${scheme}, configured ${this.ak.alg}/${this.ak.scheme}; evict it (tpm2_evictcontrol) or change the configuration`,
      );
    }
    const publicKeyPem = await readFile(join(dir, "ak.pem"), "utf8");
    const key = createPublicKey(publicKeyPem);
    const spki = key.export({ type: "spki", format: "der" });
    return {
      handle: this.akHandle,
      publicKeyPem,
      spkiBase64: spki.toString("base64"),
      fingerprint: akFingerprint(key),
      created,
    };
  }

  /**
   * Quotes the PCRs with `reportData` (fitted to `reportDataLength`) as qualifying data and
   * returns the KBS `primary_evidence` for tee "tpm".
   */
  async evidence(reportData: Uint8Array): Promise<TpmEvidenceJson> {
    const ak = await this.provision();
    const qualifying = fitReportData(reportData, this.reportDataLength).toString("hex");
    const indices = Array.from({ length: this.pcrCount }, (_, i) => i);
    const selection = `sha256:${indices.join(",")}`;
    const quoting = this.exclusive(async (run, dir) => {
      for (let attempt = 1; ; attempt++) {
        await run("tpm2_quote", [
          "-c", hexHandle(this.akHandle),
          "-l", selection,
          "-q", qualifying,
          "-m", "quote.msg",
          "-s", "quote.sig",
          "-g", "sha256",
          "--scheme", this.ak.scheme,
        ]);
        await run("tpm2_flushcontext", ["-t"]);
        await run("tpm2_pcrread", [selection, "-o", "pcrs.bin"]);
        const [message, signature, pcrBytes] = await Promise.all(
          ["quote.msg", "quote.sig", "pcrs.bin"].map((f) => readFile(join(dir, f))),
        ) as [Buffer, Buffer, Buffer];
        if (pcrBytes.byteLength !== 32 * this.pcrCount) {
          throw new TpmToolError(`tpm2_pcrread returned ${pcrBytes.byteLength} bytes for ${this.pcrCount} SHA-256 PCRs`);
        }
        const pcrs = indices.map((i) => pcrBytes.subarray(i * 32, i * 32 + 32));
        const attest = parseQuote(message);
        // The quote and the read are separate commands: a PCR extended in between would make the
        // evidence fail verification, so detect it here and quote again.
        if (computePcrDigest(attest.quote.pcrSelect, { sha256: pcrs }, parseSignature(signature).hashAlg).equals(attest.quote.pcrDigest) || attempt >= QUOTE_ATTEMPTS) {
          if (attempt >= QUOTE_ATTEMPTS) this.logger?.warn({ attempts: attempt }, "PCRs kept changing while quoting; returning the last quote");
          return decodeTpmEvidence({
            ak_public: ak.spkiBase64,
            ...(ak.ekCertBase64 ? { ek_cert: ak.ekCertBase64 } : {}),
            tpm_quote: {
              message: message.toString("base64"),
              signature: signature.toString("base64"),
              pcrs: pcrs.map((p) => p.toString("hex")),
            },
          });
        }
        this.logger?.debug({ attempt }, "PCRs changed between quote and read; quoting again");
      }
    });
    // If the TPM was cleared or the AK evicted, the cached AK is stale: provision again next time.
    quoting.catch(() => {
      this.provisioned = undefined;
    });
    return quoting;
  }
}
