import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import { EvidenceFormatError } from "../errors.js";
import { SNP_REPORT_SIZE } from "../snp/report.js";
import { messageOf } from "../../lib/errors.js";

/**
 * Azure's HCL (paravisor) attestation report, as the vTPM NV index 0x01400001 returns it and the
 * kinvolk/azure-cvm-tooling `hcl` module reads it:
 *
 *   0x000  header: "HCLA", version, report_size, request_type, status, 3 reserved u32 (32 bytes)
 *   0x020  the hardware report (SNP: 1184 bytes; the slot is sized for the largest, also 1184)
 *   0x4C0  IgvmRequestData: data_size, version, report_type, report_data_hash_type, variable_data_size
 *   0x4D4  variable data: JSON {"keys":[…HCLAkPub…], "vm-configuration":{…}, "user-data":"hex"}
 *
 * Only the SNP report is signed by AMD; the variable data is bound by REPORT_DATA[0..n] =
 * hash(var_data). Header and IgvmRequestData are not signed: they only locate the parts.
 */

export const HCL_SNP_REPORT_OFFSET = 0x20;
export const HCL_IGVM_OFFSET = HCL_SNP_REPORT_OFFSET + SNP_REPORT_SIZE;
export const HCL_VAR_DATA_OFFSET = HCL_IGVM_OFFSET + 20;
/** Azure returns a 2600-byte buffer; 16 KiB bounds anything plausible. */
export const MAX_HCL_REPORT_BYTES = 16 * 1024;
/** Variable data is ~1.1 KiB of JSON; 8 KiB bounds it. */
export const MAX_VAR_DATA_BYTES = 8 * 1024;
const HCL_MAGIC = "HCLA";
const REPORT_TYPE_SNP = 2;
const REPORT_TYPE_TDX = 4;
const HASH_TYPES: Record<number, { name: "sha256" | "sha384" | "sha512"; size: number }> = {
  1: { name: "sha256", size: 32 },
  2: { name: "sha384", size: 48 },
  3: { name: "sha512", size: 64 },
};
export const HCL_AK_KID = "HCLAkPub";

export interface HclReport {
  header: { version: number; reportSize: number; requestType: number; status: number };
  igvm: { dataSize: number; version: number; reportType: number; hashType: number; variableDataSize: number };
  /** The SNP ATTESTATION_REPORT bytes (parse with parseSnpReport). */
  snpReport: Buffer;
  /** The variable data exactly as hashed into REPORT_DATA. */
  varData: Buffer;
  /** hash(varData) with the algorithm report_data_hash_type names. */
  varDataDigest: Buffer;
  varDataHash: "sha256" | "sha384" | "sha512";
  /** The vTPM attestation key (RSA) from the var_data JWK set, kid "HCLAkPub". */
  akPub: KeyObject;
  /** `user-data` (hex in the JSON), when present. */
  userData?: Buffer;
  /** `vm-configuration`, when present (signed through the var_data hash). */
  vmConfiguration?: Record<string, unknown>;
}

interface Jwk {
  kid?: unknown;
  kty?: unknown;
  n?: unknown;
  e?: unknown;
}

function parseVarData(varData: Buffer): Pick<HclReport, "akPub" | "userData" | "vmConfiguration"> {
  let json: unknown;
  try {
    json = JSON.parse(varData.toString("utf8"));
  } catch (err) {
    throw new EvidenceFormatError(`HCL variable data is not JSON: ${messageOf(err)}`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new EvidenceFormatError("HCL variable data is not a JSON object");
  const obj = json as Record<string, unknown>;
  const keys = obj.keys;
  if (!Array.isArray(keys) || keys.length > 16) throw new EvidenceFormatError("HCL variable data has no `keys` array (or too many keys)");
  const aks = keys.filter((k): k is Jwk => typeof k === "object" && k !== null && (k as Jwk).kid === HCL_AK_KID);
  if (aks.length !== 1) throw new EvidenceFormatError(`HCL variable data has ${aks.length} keys with kid ${HCL_AK_KID}, expected 1`);
  const ak = aks[0] as Jwk;
  if (ak.kty !== "RSA" || typeof ak.n !== "string" || typeof ak.e !== "string" || ak.n.length > 1400 || ak.e.length > 16) {
    throw new EvidenceFormatError(`${HCL_AK_KID} is not an RSA JWK`);
  }
  let akPub: KeyObject;
  try {
    akPub = createPublicKey({ key: { kty: "RSA", n: ak.n, e: ak.e }, format: "jwk" });
  } catch (err) {
    throw new EvidenceFormatError(`${HCL_AK_KID} cannot be read: ${messageOf(err)}`);
  }
  const out: Pick<HclReport, "akPub" | "userData" | "vmConfiguration"> = { akPub };
  const ud = obj["user-data"];
  if (ud !== undefined) {
    if (typeof ud !== "string" || !/^(?:[0-9a-fA-F]{2}){0,128}$/.test(ud)) throw new EvidenceFormatError("HCL user-data is not hex of at most 128 bytes");
    out.userData = Buffer.from(ud, "hex");
  }
  const vm = obj["vm-configuration"];
  if (typeof vm === "object" && vm !== null && !Array.isArray(vm)) out.vmConfiguration = vm as Record<string, unknown>;
  return out;
}

/**
 * Parses an HCL report carrying an SNP report. Throws EvidenceFormatError on a bad magic, a TDX
 * or unknown report type, an unknown hash type, sizes that do not fit, or unreadable var_data.
 */
export function parseHclReport(bytes: Uint8Array): HclReport {
  const d = Buffer.from(bytes);
  if (d.byteLength > MAX_HCL_REPORT_BYTES) throw new EvidenceFormatError(`HCL report is ${d.byteLength} bytes (max ${MAX_HCL_REPORT_BYTES})`);
  if (d.byteLength < HCL_VAR_DATA_OFFSET) throw new EvidenceFormatError(`HCL report is ${d.byteLength} bytes, shorter than its fixed part (${HCL_VAR_DATA_OFFSET})`);
  if (d.toString("latin1", 0, 4) !== HCL_MAGIC) throw new EvidenceFormatError("HCL report does not start with HCLA");
  const header = { version: d.readUInt32LE(4), reportSize: d.readUInt32LE(8), requestType: d.readUInt32LE(12), status: d.readUInt32LE(16) };
  const igvm = {
    dataSize: d.readUInt32LE(HCL_IGVM_OFFSET),
    version: d.readUInt32LE(HCL_IGVM_OFFSET + 4),
    reportType: d.readUInt32LE(HCL_IGVM_OFFSET + 8),
    hashType: d.readUInt32LE(HCL_IGVM_OFFSET + 12),
    variableDataSize: d.readUInt32LE(HCL_IGVM_OFFSET + 16),
  };
  if (igvm.reportType === REPORT_TYPE_TDX) throw new EvidenceFormatError("HCL report carries a TDX report, not SNP (use az-tdx-vtpm)");
  if (igvm.reportType !== REPORT_TYPE_SNP) throw new EvidenceFormatError(`HCL report type ${igvm.reportType} is not SNP (${REPORT_TYPE_SNP})`);
  const hash = HASH_TYPES[igvm.hashType];
  if (!hash) throw new EvidenceFormatError(`HCL report_data_hash_type ${igvm.hashType} is unknown (1 SHA-256, 2 SHA-384, 3 SHA-512)`);
  if (igvm.variableDataSize === 0 || igvm.variableDataSize > MAX_VAR_DATA_BYTES) {
    throw new EvidenceFormatError(`HCL variable data is ${igvm.variableDataSize} bytes (1..${MAX_VAR_DATA_BYTES})`);
  }
  if (HCL_VAR_DATA_OFFSET + igvm.variableDataSize > d.byteLength) throw new EvidenceFormatError("HCL variable data runs past the end of the report");
  const varData = Buffer.from(d.subarray(HCL_VAR_DATA_OFFSET, HCL_VAR_DATA_OFFSET + igvm.variableDataSize));
  return {
    header,
    igvm,
    snpReport: Buffer.from(d.subarray(HCL_SNP_REPORT_OFFSET, HCL_SNP_REPORT_OFFSET + SNP_REPORT_SIZE)),
    varData,
    varDataDigest: createHash(hash.name).update(varData).digest(),
    varDataHash: hash.name,
    ...parseVarData(varData),
  };
}
