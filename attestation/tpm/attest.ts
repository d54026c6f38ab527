import { EvidenceFormatError } from "../errors.js";
import { algName, hashInfo, type TpmHashName } from "./alg.js";
import { TpmReader } from "./reader.js";

/** TPM_GENERATED_VALUE: every TPMS_ATTEST the TPM signs starts with it ("\xffTCG"). */
export const TPM_GENERATED_VALUE = 0xff544347;
/** TPM_ST_ATTEST_QUOTE. */
export const TPM_ST_ATTEST_QUOTE = 0x8018;

/** Largest TPMS_ATTEST we accept: a quote is ~150 bytes; this leaves room without being unbounded. */
export const MAX_ATTEST_BYTES = 4096;
/** TPM2B_NAME holds at most a hash algorithm and a SHA-512 digest. */
const MAX_NAME = 2 + 64;
/** TPM2B_DATA is sized as a TPMT_HA (algorithm + SHA-512 digest). */
const MAX_EXTRA_DATA = 2 + 64;
const MAX_DIGEST = 64;
/** HASH_COUNT: a TPM has at most a few banks; 16 is far above any real one. */
const MAX_PCR_BANKS = 16;
/** 8 select bytes = 64 PCRs, well above the 24 of a PC client TPM. */
const MAX_SIZEOF_SELECT = 8;

export interface TpmsClockInfo {
  /** Milliseconds the TPM has been powered (u64). */
  clock: bigint;
  resetCount: number;
  restartCount: number;
  safe: boolean;
}

/** One TPMS_PCR_SELECTION: a bank and the PCR indices selected in it, ascending. */
export interface PcrSelection {
  /** TPM_ALG_ID of the bank. */
  hashAlg: number;
  hash: TpmHashName;
  pcrs: number[];
}

export interface TpmsQuoteInfo {
  pcrSelect: PcrSelection[];
  pcrDigest: Buffer;
}

export interface TpmsAttest {
  magic: number;
  type: number;
  /** TPM2B_NAME of the signing key's qualified name. */
  qualifiedSigner: Buffer;
  /** TPM2B_DATA the caller asked to be included: the nonce / report data. */
  extraData: Buffer;
  clockInfo: TpmsClockInfo;
  firmwareVersion: bigint;
  /** Present for TPM_ST_ATTEST_QUOTE; other attestation types are refused by parseQuote. */
  quote: TpmsQuoteInfo;
}

function parsePcrSelection(r: TpmReader, index: number): PcrSelection {
  const hashAlg = r.u16(`pcrSelect[${index}].hash`);
  const info = hashInfo(hashAlg);
  if (!info) {
    throw new EvidenceFormatError(`TPMS_ATTEST: PCR bank ${index} has unknown hash algorithm ${algName(hashAlg)}`, {
      hashAlg,
    });
  }
  const sizeofSelect = r.u8(`pcrSelect[${index}].sizeofSelect`);
  if (sizeofSelect > MAX_SIZEOF_SELECT) {
    throw new EvidenceFormatError(`TPMS_ATTEST: PCR bank ${index} selects ${sizeofSelect} bytes of PCRs (max ${MAX_SIZEOF_SELECT})`);
  }
  const bitmap = r.bytesOf(sizeofSelect, `pcrSelect[${index}].pcrSelect`);
  const pcrs: number[] = [];
  // Bit n of byte k selects PCR 8k+n (TPM 2.0 Part 2, 10.6.1).
  for (let byte = 0; byte < bitmap.byteLength; byte++) {
    for (let bit = 0; bit < 8; bit++) {
      if (((bitmap[byte] ?? 0) >> bit) & 1) pcrs.push(byte * 8 + bit);
    }
  }
  return { hashAlg, hash: info.name, pcrs };
}

/**
 * Parses a marshalled TPMS_ATTEST of type quote (the `message` a TPM2_Quote returns). No
 * cryptography: signature and digest checks are the verifier's job. Throws EvidenceFormatError on
 * anything malformed, including trailing bytes and attestation types other than quote.
 */
export function parseQuote(bytes: Uint8Array): TpmsAttest {
  if (bytes.byteLength > MAX_ATTEST_BYTES) {
    throw new EvidenceFormatError(`TPMS_ATTEST is ${bytes.byteLength} bytes, more than ${MAX_ATTEST_BYTES}`);
  }
  const r = new TpmReader(Buffer.from(bytes), "TPMS_ATTEST");
  const magic = r.u32("magic");
  if (magic !== TPM_GENERATED_VALUE) {
    throw new EvidenceFormatError(`TPMS_ATTEST: magic is 0x${magic.toString(16)}, not TPM_GENERATED_VALUE 0xff544347`);
  }
  const type = r.u16("type");
  if (type !== TPM_ST_ATTEST_QUOTE) {
    throw new EvidenceFormatError(`TPMS_ATTEST: type is 0x${type.toString(16)}, not TPM_ST_ATTEST_QUOTE 0x8018`);
  }
  const qualifiedSigner = r.tpm2b("qualifiedSigner", MAX_NAME);
  const extraData = r.tpm2b("extraData", MAX_EXTRA_DATA);
  const clock = r.u64("clockInfo.clock");
  const resetCount = r.u32("clockInfo.resetCount");
  const restartCount = r.u32("clockInfo.restartCount");
  const safeByte = r.u8("clockInfo.safe");
  if (safeByte > 1) throw new EvidenceFormatError(`TPMS_ATTEST: clockInfo.safe is ${safeByte}, not YES or NO`);
  const firmwareVersion = r.u64("firmwareVersion");
  const count = r.u32("pcrSelect.count");
  if (count > MAX_PCR_BANKS) {
    throw new EvidenceFormatError(`TPMS_ATTEST: ${count} PCR selections (max ${MAX_PCR_BANKS})`);
  }
  const pcrSelect: PcrSelection[] = [];
  for (let i = 0; i < count; i++) pcrSelect.push(parsePcrSelection(r, i));
  const pcrDigest = r.tpm2b("pcrDigest", MAX_DIGEST);
  r.end();
  return {
    magic,
    type,
    qualifiedSigner,
    extraData,
    clockInfo: { clock, resetCount, restartCount, safe: safeByte === 1 },
    firmwareVersion,
    quote: { pcrSelect, pcrDigest },
  };
}

/** Firmware version the IBM TPM 2.0 simulator reports, which swtpm (libtpms) inherits. */
export const SOFTWARE_TPM_FIRMWARE_VERSION = 0x2019102300163636n;

export function isSoftwareTpm(attest: Pick<TpmsAttest, "firmwareVersion">): boolean {
  return attest.firmwareVersion === SOFTWARE_TPM_FIRMWARE_VERSION;
}

/** Firmware version as 16 hex digits, how operators compare it with vendor release notes. */
export function firmwareVersionHex(version: bigint): string {
  return version.toString(16).padStart(16, "0");
}
