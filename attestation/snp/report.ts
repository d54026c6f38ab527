import { EvidenceFormatError } from "../errors.js";
import type { AmdProduct } from "../roots/amd/index.js";

/**
 * The SEV-SNP ATTESTATION_REPORT (AMD SEV-SNP Firmware ABI spec 56860, table "ATTESTATION_REPORT
 * Structure"), versions 2, 3, 4 and 5. Parsing only: no cryptography, so this is safe to fuzz.
 * Offsets were cross-checked against go-sev-guest's abi package and the virtee/sev crate.
 */

/** Every report is 0x4A0 bytes, whatever its version. */
export const SNP_REPORT_SIZE = 0x4a0;
/** The signature covers bytes [0, 0x2A0). */
export const SNP_SIGNED_LENGTH = 0x2a0;
export const SNP_SIGNATURE_OFFSET = 0x2a0;
/** R and S are 72-byte little-endian fields (P-384 scalars zero-extended). */
export const SNP_SIGNATURE_COMPONENT_SIZE = 72;
/** SIGNATURE_ALGO 1 = ECDSA P-384 with SHA-384, the only one defined. */
export const SIG_ALGO_ECDSA_P384_SHA384 = 1;
export const SUPPORTED_REPORT_VERSIONS: readonly number[] = [2, 3, 4, 5];

/** Guest policy (spec: "GUEST_POLICY"), bits named as in the spec. */
export interface SnpPolicy {
  /** The raw 64-bit value, as 16 hex digits. */
  raw: string;
  abiMinor: number;
  abiMajor: number;
  /** Bit 16: SMT may be enabled on the host. */
  smt: boolean;
  /** Bit 18: association with a migration agent is allowed. */
  migrateMa: boolean;
  /** Bit 19: the hypervisor may debug the guest (decrypt its memory). A production guest never sets it. */
  debug: boolean;
  /** Bit 20: the guest may run on one socket only. */
  singleSocket: boolean;
  /** Bit 21: CXL may be populated with guest memory. */
  cxlAllowed: boolean;
  /** Bit 22: AES-256-XTS memory encryption is required. */
  memAes256Xts: boolean;
  /** Bit 23: Running Average Power Limit must be disabled. */
  raplDis: boolean;
  /** Bit 24: ciphertext hiding for DRAM must be enabled. */
  ciphertextHiding: boolean;
  /** Bit 25: guest page swap is disabled. */
  pageSwapDisable: boolean;
}

/** PLATFORM_INFO. Unknown bits are kept in `raw` (new firmware adds bits; they are not an error). */
export interface SnpPlatformInfo {
  raw: string;
  smtEnabled: boolean;
  tsmeEnabled: boolean;
  eccEnabled: boolean;
  raplDisabled: boolean;
  ciphertextHidingEnabled: boolean;
  aliasCheckComplete: boolean;
  tioEnabled: boolean;
}

export type SigningKeyKind = "vcek" | "vlek" | "none";

/** The 32-bit field at 0x48 (KEY_INFO / signer info). */
export interface SnpSignerInfo {
  raw: number;
  /** Bit 0: AUTHOR_KEY_EN, the author key digest is present. */
  authorKeyEn: boolean;
  /** Bit 1: MASK_CHIP_KEY, the report is not signed (signature is zero). */
  maskChipKey: boolean;
  /** Bits 4:2: SIGNING_KEY, 0 = VCEK, 1 = VLEK, 7 = none. */
  signingKey: SigningKeyKind;
}

/**
 * TCB_VERSION. Milan and Genoa lay it out as bl, tee, 4 reserved, snp, ucode; Turin (and later)
 * as fmc, bl, tee, snp, 3 reserved, ucode.
 */
export interface SnpTcb {
  /** The raw 64-bit little-endian value as 16 hex digits (most significant first). */
  raw: string;
  bootloader: number;
  tee: number;
  snp: number;
  microcode: number;
  /** Turin layout only. */
  fmc?: number;
}

export type TcbLayout = "milan-genoa" | "turin";

export interface SnpCpuid {
  family: number;
  model: number;
  stepping: number;
}

export interface SnpFirmwareVersion {
  major: number;
  minor: number;
  build: number;
}

export interface SnpReport {
  version: number;
  guestSvn: number;
  policy: SnpPolicy;
  familyId: Buffer;
  imageId: Buffer;
  vmpl: number;
  signatureAlgo: number;
  currentTcb: SnpTcb;
  platformInfo: SnpPlatformInfo;
  signerInfo: SnpSignerInfo;
  reportData: Buffer;
  measurement: Buffer;
  hostData: Buffer;
  idKeyDigest: Buffer;
  authorKeyDigest: Buffer;
  reportId: Buffer;
  reportIdMa: Buffer;
  reportedTcb: SnpTcb;
  /** Version 3 and later. */
  cpuid?: SnpCpuid;
  chipId: Buffer;
  committedTcb: SnpTcb;
  currentVersion: SnpFirmwareVersion;
  committedVersion: SnpFirmwareVersion;
  launchTcb: SnpTcb;
  /** Version 5 and later. */
  launchMitVector?: string;
  currentMitVector?: string;
  /** Product line from CPUID (version 3+); undefined for version 2 (the VEK certificate says). */
  product?: AmdProduct;
  tcbLayout: TcbLayout;
  /** ECDSA R and S as big-endian 48-byte scalars, ready for ieee-p1363 verification. */
  signature: { r: Buffer; s: Buffer };
  /** The bytes the signature covers, [0, 0x2A0). */
  signedBytes: Buffer;
  /** The whole report as received. */
  raw: Buffer;
}

const POLICY_RESERVED_1_BIT = 17n;
/** Bits 26..63 of the policy are reserved (must be zero). */
const POLICY_MBZ_MASK = ~((1n << 26n) - 1n) & 0xffff_ffff_ffff_ffffn;

const bit = (v: bigint, n: number): boolean => ((v >> BigInt(n)) & 1n) === 1n;
const hex64 = (v: bigint): string => v.toString(16).padStart(16, "0");

export function decodePolicy(value: bigint): SnpPolicy {
  return {
    raw: hex64(value),
    abiMinor: Number(value & 0xffn),
    abiMajor: Number((value >> 8n) & 0xffn),
    smt: bit(value, 16),
    migrateMa: bit(value, 18),
    debug: bit(value, 19),
    singleSocket: bit(value, 20),
    cxlAllowed: bit(value, 21),
    memAes256Xts: bit(value, 22),
    raplDis: bit(value, 23),
    ciphertextHiding: bit(value, 24),
    pageSwapDisable: bit(value, 25),
  };
}

export function decodePlatformInfo(value: bigint): SnpPlatformInfo {
  return {
    raw: hex64(value),
    smtEnabled: bit(value, 0),
    tsmeEnabled: bit(value, 1),
    eccEnabled: bit(value, 2),
    raplDisabled: bit(value, 3),
    ciphertextHidingEnabled: bit(value, 4),
    aliasCheckComplete: bit(value, 5),
    tioEnabled: bit(value, 7),
  };
}

export function decodeSignerInfo(value: number): SnpSignerInfo {
  if (value >>> 5 !== 0) {
    throw new EvidenceFormatError(`SNP report: signer info 0x${value.toString(16)} has reserved bits 31:5 set`);
  }
  const key = (value >>> 2) & 7;
  let signingKey: SigningKeyKind;
  if (key === 0) signingKey = "vcek";
  else if (key === 1) signingKey = "vlek";
  else if (key === 7) signingKey = "none";
  else throw new EvidenceFormatError(`SNP report: SIGNING_KEY ${key} is reserved (0 VCEK, 1 VLEK, 7 none)`);
  return { raw: value, authorKeyEn: (value & 1) === 1, maskChipKey: (value & 2) === 2, signingKey };
}

/** Decodes a TCB_VERSION from its 8 little-endian bytes. */
export function decodeTcb(bytes: Uint8Array, layout: TcbLayout): SnpTcb {
  const raw = hex64(Buffer.from(bytes).readBigUInt64LE(0));
  const b = (i: number): number => bytes[i] as number;
  if (layout === "turin") return { raw, fmc: b(0), bootloader: b(1), tee: b(2), snp: b(3), microcode: b(7) };
  return { raw, bootloader: b(0), tee: b(1), snp: b(6), microcode: b(7) };
}

/** Encodes a TCB_VERSION (for building synthetic reports and comparing components). */
export function encodeTcb(tcb: Omit<SnpTcb, "raw">, layout: TcbLayout): Buffer {
  const out = Buffer.alloc(8);
  if (layout === "turin") {
    out[0] = tcb.fmc ?? 0;
    out[1] = tcb.bootloader;
    out[2] = tcb.tee;
    out[3] = tcb.snp;
  } else {
    out[0] = tcb.bootloader;
    out[1] = tcb.tee;
    out[6] = tcb.snp;
  }
  out[7] = tcb.microcode;
  return out;
}

/**
 * Product line from CPUID family/model (extended values, as the report carries them), the table
 * AMD's KDS and the virtee/sev crate use. Undefined for anything else.
 */
export function productFromCpuid(family: number, model: number): AmdProduct | undefined {
  if (family === 0x19) {
    if (model <= 0x0f) return "Milan";
    if ((model >= 0x10 && model <= 0x1f) || (model >= 0xa0 && model <= 0xaf)) return "Genoa";
  }
  if (family === 0x1a && model <= 0x11) return "Turin";
  return undefined;
}

function mustBeZero(data: Buffer, from: number, to: number, what: string): void {
  for (let i = from; i < to; i++) {
    if (data[i] !== 0) {
      throw new EvidenceFormatError(`SNP report: reserved bytes ${what} [0x${from.toString(16)}, 0x${to.toString(16)}) are not zero (0x${i.toString(16)})`);
    }
  }
}

/** AMD stores R and S little-endian in 72 bytes; P-384 scalars fit in 48, the rest must be zero. */
function signatureScalar(le: Buffer, what: string): Buffer {
  mustBeZero(le, 48, SNP_SIGNATURE_COMPONENT_SIZE, `signature ${what} high bytes`);
  return Buffer.from(le.subarray(0, 48)).reverse();
}

/**
 * Parses a 1184-byte SEV-SNP attestation report. Throws EvidenceFormatError on a wrong length, an
 * unknown version or signature algorithm, reserved bits or bytes that are set, or a malformed
 * field; everything else is typed, with no judgement (that is verify's and appraise's job).
 */
export function parseSnpReport(bytes: Uint8Array): SnpReport {
  if (bytes.byteLength !== SNP_REPORT_SIZE) {
    throw new EvidenceFormatError(`SNP report is ${bytes.byteLength} bytes, expected ${SNP_REPORT_SIZE}`, { length: bytes.byteLength });
  }
  const d = Buffer.from(bytes);
  const version = d.readUInt32LE(0x00);
  if (!SUPPORTED_REPORT_VERSIONS.includes(version)) {
    throw new EvidenceFormatError(`SNP report version ${version} is not supported (${SUPPORTED_REPORT_VERSIONS.join(", ")})`, { version });
  }
  const signatureAlgo = d.readUInt32LE(0x34);
  if (signatureAlgo !== SIG_ALGO_ECDSA_P384_SHA384) {
    throw new EvidenceFormatError(`SNP report signature algorithm ${signatureAlgo} is not ECDSA P-384/SHA-384 (1)`, { signatureAlgo });
  }
  const policyRaw = d.readBigUInt64LE(0x08);
  if (!bit(policyRaw, Number(POLICY_RESERVED_1_BIT))) {
    throw new EvidenceFormatError(`SNP report: policy 0x${policyRaw.toString(16)} has reserved bit 17 clear (must be 1)`);
  }
  if ((policyRaw & POLICY_MBZ_MASK) !== 0n) {
    throw new EvidenceFormatError(`SNP report: policy 0x${policyRaw.toString(16)} sets reserved bits 63:26`);
  }
  const signerInfo = decodeSignerInfo(d.readUInt32LE(0x48));
  mustBeZero(d, 0x4c, 0x50, "after signer info");

  const chipId = Buffer.from(d.subarray(0x1a0, 0x1e0));
  let cpuid: SnpCpuid | undefined;
  let product: AmdProduct | undefined;
  let tcbLayout: TcbLayout;
  if (version >= 3) {
    cpuid = { family: d[0x188] as number, model: d[0x189] as number, stepping: d[0x18a] as number };
    mustBeZero(d, 0x18b, 0x1a0, "after CPUID");
    product = productFromCpuid(cpuid.family, cpuid.model);
    // Family 0x1A (Zen 5) and later use the Turin TCB layout.
    tcbLayout = cpuid.family >= 0x1a ? "turin" : "milan-genoa";
  } else {
    mustBeZero(d, 0x188, 0x1a0, "after REPORTED_TCB");
    // Version 2 has no CPUID. A Turin CHIP_ID is 8 bytes followed by zeros (the heuristic the
    // virtee/sev crate uses); a masked (all-zero) CHIP_ID says nothing, so it keeps the old layout.
    const rest = chipId.subarray(8);
    tcbLayout = chipId.some((x) => x !== 0) && rest.every((x) => x === 0) ? "turin" : "milan-genoa";
  }
  const tcb = (offset: number): SnpTcb => decodeTcb(d.subarray(offset, offset + 8), tcbLayout);

  mustBeZero(d, 0x1eb, 0x1ec, "after CURRENT version");
  mustBeZero(d, 0x1ef, 0x1f0, "after COMMITTED version");
  let launchMitVector: string | undefined;
  let currentMitVector: string | undefined;
  if (version >= 5) {
    launchMitVector = hex64(d.readBigUInt64LE(0x1f8));
    currentMitVector = hex64(d.readBigUInt64LE(0x200));
    mustBeZero(d, 0x208, SNP_SIGNATURE_OFFSET, "before the signature");
  } else {
    mustBeZero(d, 0x1f8, SNP_SIGNATURE_OFFSET, "before the signature");
  }
  const rLe = d.subarray(SNP_SIGNATURE_OFFSET, SNP_SIGNATURE_OFFSET + 72);
  const sLe = d.subarray(SNP_SIGNATURE_OFFSET + 72, SNP_SIGNATURE_OFFSET + 144);
  mustBeZero(d, SNP_SIGNATURE_OFFSET + 144, SNP_REPORT_SIZE, "after the signature");

  const report: SnpReport = {
    version,
    guestSvn: d.readUInt32LE(0x04),
    policy: decodePolicy(policyRaw),
    familyId: Buffer.from(d.subarray(0x10, 0x20)),
    imageId: Buffer.from(d.subarray(0x20, 0x30)),
    vmpl: d.readUInt32LE(0x30),
    signatureAlgo,
    currentTcb: tcb(0x38),
    platformInfo: decodePlatformInfo(d.readBigUInt64LE(0x40)),
    signerInfo,
    reportData: Buffer.from(d.subarray(0x50, 0x90)),
    measurement: Buffer.from(d.subarray(0x90, 0xc0)),
    hostData: Buffer.from(d.subarray(0xc0, 0xe0)),
    idKeyDigest: Buffer.from(d.subarray(0xe0, 0x110)),
    authorKeyDigest: Buffer.from(d.subarray(0x110, 0x140)),
    reportId: Buffer.from(d.subarray(0x140, 0x160)),
    reportIdMa: Buffer.from(d.subarray(0x160, 0x180)),
    reportedTcb: tcb(0x180),
    chipId,
    committedTcb: tcb(0x1e0),
    currentVersion: { build: d[0x1e8] as number, minor: d[0x1e9] as number, major: d[0x1ea] as number },
    committedVersion: { build: d[0x1ec] as number, minor: d[0x1ed] as number, major: d[0x1ee] as number },
    launchTcb: tcb(0x1f0),
    tcbLayout,
    signature: { r: signatureScalar(Buffer.from(rLe), "R"), s: signatureScalar(Buffer.from(sLe), "S") },
    signedBytes: Buffer.from(d.subarray(0, SNP_SIGNED_LENGTH)),
    raw: d,
  };
  if (cpuid) report.cpuid = cpuid;
  if (product) report.product = product;
  if (launchMitVector !== undefined) report.launchMitVector = launchMitVector;
  if (currentMitVector !== undefined) report.currentMitVector = currentMitVector;
  return report;
}

/** Compares two TCBs component by component: true when every component of `a` is >= `b`'s. */
export function tcbAtLeast(a: Omit<SnpTcb, "raw">, b: Partial<Omit<SnpTcb, "raw">>): boolean {
  return (
    a.bootloader >= (b.bootloader ?? 0) &&
    a.tee >= (b.tee ?? 0) &&
    a.snp >= (b.snp ?? 0) &&
    a.microcode >= (b.microcode ?? 0) &&
    (a.fmc ?? 0) >= (b.fmc ?? 0)
  );
}

/** "bl/tee/snp/ucode" (with "fmc/" first for the Turin layout), how operators and AMD write TCBs. */
export function formatTcb(tcb: Omit<SnpTcb, "raw">): string {
  const core = `${tcb.bootloader}/${tcb.tee}/${tcb.snp}/${tcb.microcode}`;
  return tcb.fmc === undefined ? core : `fmc ${tcb.fmc}, ${core}`;
}
