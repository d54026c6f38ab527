/**
 * The proplet's TEE, as configured. Detection is explicit: an operator says which TEE this machine
 * is and how to reach it; nothing is guessed from the environment (a guess that is wrong would
 * either announce a TEE that cannot attest, or hide one).
 */
import type { Logger } from "pino";
import { ATTESTATION_TEES, attestationTee, type Attester } from "../../attestation/index.js";
import { SampleAttester } from "../../attestation/attesters/index.js";
import { TEE_TYPES, isDevelopmentOnlyTee } from "../../protocol/index.js";
import { AzSnpVtpmAttester, SnpAttester, TdxAttester, TpmAttester, validateTcti, type TpmAttesterOptions } from "../../attestation/attesters/index.js";
import { messageOf } from "../../lib/errors.js";

/**
 * `sample`: Trustee's unsigned development "TEE" (accepted only by a KBS in development mode).
 * `tpm`: a TPM 2.0 reached through tpm2-tools at `tcti` (e.g. `device:/dev/tpmrm0`,
 * `swtpm:host=127.0.0.1,port=2321`); the other members are TpmAttester's options.
 */
export type PropletTeeConfig =
  | { type: "sample"; svn?: number }
  | ({ type: "tpm" } & Pick<TpmAttesterOptions, "tcti" | "akHandle" | "ekHandle" | "ak" | "pcrCount" | "reportDataLength" | "includeEkCert" | "ekCertNvIndex" | "timeoutMs">)
  /** AMD SEV-SNP / Intel TDX guests, through Linux configfs-tsm (`root` defaults to /sys/kernel/config/tsm/report). */
  | { type: "snp"; root?: string; privlevel?: number; timeoutMs?: number }
  | { type: "tdx"; root?: string; timeoutMs?: number }
  /**
   * An Azure SEV-SNP confidential VM: the HCL report and a quote from its vTPM (`tcti`, default
   * device:/dev/tpmrm0), the VCEK from Azure's metadata service or `vcekFile`.
   */
  | { type: "az-snp-vtpm"; tcti?: string; vcekFile?: string; timeoutMs?: number };

/** TEEs a proplet can be configured with: those the TEE table gives an attester, in table order. */
export const CONFIGURABLE_TEES = TEE_TYPES.filter((tee) => ATTESTATION_TEES[tee].attester !== null);

const quoted = (names: readonly string[]): string => names.map((n) => JSON.stringify(n)).join(", ").replace(/, ([^,]*)$/, " or $1");

const TPM_KEYS = new Set(["type", "tcti", "akHandle", "ekHandle", "ak", "pcrCount", "reportDataLength", "includeEkCert", "ekCertNvIndex", "timeoutMs"]);

/** One message per bad value (collected by the config resolver). */
export function teeConfigProblems(tee: unknown): string[] {
  if (tee === undefined) return [];
  if (typeof tee !== "object" || tee === null) return [`tee must be an object {type: ${CONFIGURABLE_TEES.map((n) => JSON.stringify(n)).join(" | ")}, …}`];
  const t = tee as Record<string, unknown>;
  const known = typeof t.type === "string" ? attestationTee(t.type) : undefined;
  if (known && known.attester === null) {
    return [`tee.type ${JSON.stringify(t.type)}: a proplet cannot produce its evidence yet (no attester is written); configure one of ${quoted(CONFIGURABLE_TEES)}`];
  }
  if (t.type === "sample") {
    const extra = Object.keys(t).filter((k) => k !== "type" && k !== "svn");
    const problems = extra.length ? [`tee (sample) has unknown members: ${extra.join(", ")}`] : [];
    if (t.svn !== undefined && (!Number.isInteger(t.svn) || (t.svn as number) < 0 || (t.svn as number) > 999_999_999)) problems.push("tee.svn must be an integer from 0 to 999999999");
    return problems;
  }
  if (t.type === "tpm") {
    const problems: string[] = [];
    const extra = Object.keys(t).filter((k) => !TPM_KEYS.has(k));
    if (extra.length) problems.push(`tee (tpm) has unknown members: ${extra.join(", ")}`);
    if (typeof t.tcti !== "string") problems.push("tee.tcti is required for a TPM (e.g. device:/dev/tpmrm0)");
    else {
      try {
        validateTcti(t.tcti);
      } catch (err) {
        problems.push(`tee.tcti: ${messageOf(err)}`);
      }
    }
    for (const k of ["akHandle", "ekHandle", "ekCertNvIndex"] as const) {
      if (t[k] !== undefined && (!Number.isInteger(t[k]) || (t[k] as number) < 0 || (t[k] as number) > 0xffffffff)) problems.push(`tee.${k} must be a 32-bit handle`);
    }
    if (t.pcrCount !== undefined && (!Number.isInteger(t.pcrCount) || (t.pcrCount as number) < 1 || (t.pcrCount as number) > 24)) problems.push("tee.pcrCount must be 1 to 24");
    if (t.reportDataLength !== undefined && t.reportDataLength !== 32 && t.reportDataLength !== 64) problems.push("tee.reportDataLength must be 32 or 64");
    if (t.timeoutMs !== undefined && (!Number.isInteger(t.timeoutMs) || (t.timeoutMs as number) < 100 || (t.timeoutMs as number) > 600_000)) problems.push("tee.timeoutMs must be 100 to 600000");
    return problems;
  }
  if (t.type === "az-snp-vtpm") {
    const problems: string[] = [];
    const extra = Object.keys(t).filter((k) => !["type", "tcti", "vcekFile", "timeoutMs"].includes(k));
    if (extra.length) problems.push(`tee (az-snp-vtpm) has unknown members: ${extra.join(", ")}`);
    if (t.tcti !== undefined) {
      try {
        validateTcti(String(t.tcti));
      } catch (err) {
        problems.push(`tee.tcti: ${messageOf(err)}`);
      }
    }
    if (t.vcekFile !== undefined && (typeof t.vcekFile !== "string" || !t.vcekFile.startsWith("/"))) problems.push("tee.vcekFile must be an absolute path (a PEM or DER VCEK)");
    if (t.timeoutMs !== undefined && (!Number.isInteger(t.timeoutMs) || (t.timeoutMs as number) < 100 || (t.timeoutMs as number) > 600_000)) problems.push("tee.timeoutMs must be 100 to 600000");
    return problems;
  }
  if (t.type === "snp" || t.type === "tdx") {
    const allowed = new Set(t.type === "snp" ? ["type", "root", "privlevel", "timeoutMs"] : ["type", "root", "timeoutMs"]);
    const problems: string[] = [];
    const extra = Object.keys(t).filter((k) => !allowed.has(k));
    if (extra.length) problems.push(`tee (${t.type}) has unknown members: ${extra.join(", ")}`);
    if (t.root !== undefined && (typeof t.root !== "string" || !t.root.startsWith("/"))) problems.push("tee.root must be an absolute path (the configfs-tsm report folder)");
    if (t.privlevel !== undefined && (!Number.isInteger(t.privlevel) || (t.privlevel as number) < 0 || (t.privlevel as number) > 3)) problems.push("tee.privlevel must be 0 to 3");
    if (t.timeoutMs !== undefined && (!Number.isInteger(t.timeoutMs) || (t.timeoutMs as number) < 100 || (t.timeoutMs as number) > 120_000)) problems.push("tee.timeoutMs must be 100 to 120000");
    return problems;
  }
  return [`tee.type must be ${quoted(CONFIGURABLE_TEES)}, got ${JSON.stringify(t.type)}`];
}

export function createAttester(tee: PropletTeeConfig, logger: Logger): Attester {
  if (isDevelopmentOnlyTee(tee.type)) {
    logger.warn(`TEE: ${tee.type} (development only: its evidence is unsigned; only a development-mode KBS accepts it)`);
  }
  if (tee.type === "sample") return new SampleAttester(tee.svn !== undefined ? { svn: tee.svn } : {});
  if (tee.type === "snp") return new SnpAttester({ ...(tee.root ? { root: tee.root } : {}), ...(tee.privlevel !== undefined ? { privlevel: tee.privlevel } : {}), ...(tee.timeoutMs ? { timeoutMs: tee.timeoutMs } : {}), logger });
  if (tee.type === "az-snp-vtpm") {
    return new AzSnpVtpmAttester({ ...(tee.tcti ? { tcti: tee.tcti } : {}), ...(tee.vcekFile ? { vcek: { file: tee.vcekFile } } : {}), ...(tee.timeoutMs ? { timeoutMs: tee.timeoutMs } : {}), logger });
  }
  if (tee.type === "tdx") return new TdxAttester({ ...(tee.root ? { root: tee.root } : {}), ...(tee.timeoutMs ? { timeoutMs: tee.timeoutMs } : {}), logger });
  const { type: _type, ...options } = tee;
  return new TpmAttester({ ...options, logger });
}
