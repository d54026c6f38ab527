import { EvidenceFormatError } from "../errors.js";

/**
 * Intel DCAP quote parser for TDX (quote versions 4 and 5). Bytes → typed structure, no crypto.
 * Layout: Intel TDX DCAP Quoting Library API, appendix "Quote format". All integers little-endian.
 *
 *   v4: header(48) ‖ TD report(584)                               ‖ u32 sig_len ‖ sig_data
 *   v5: header(48) ‖ u16 body_type ‖ u32 body_size ‖ body(584|648) ‖ u32 sig_len ‖ sig_data
 *
 * The signed region is everything before sig_len. Bytes after sig_data are ignored (real quotes
 * arrive in fixed-size buffers padded with zeros, or with test text appended).
 */

export const QUOTE_HEADER_SIZE = 48;
export const TD_REPORT10_SIZE = 584;
export const TD_REPORT15_SIZE = 648;
export const SGX_REPORT_SIZE = 384;
/** Largest quote we accept: real ones are ~5 KiB; the PCK chain is the bulk. */
export const MAX_QUOTE_SIZE = 64 * 1024;

export const TEE_TYPE_TDX = 0x81;
export const ATT_KEY_TYPE_ECDSA_P256 = 2;
export const CERT_DATA_PCK_CHAIN = 5;
export const CERT_DATA_QE_REPORT = 6;
export const BODY_TYPE_TD10 = 2;
export const BODY_TYPE_TD15 = 3;

export interface QuoteHeader {
  version: number;
  attKeyType: number;
  teeType: number;
  /** Bytes 8..12: reserved in v4/v5 (QE/PCE SVN in SGX v3). Kept for the golden comparison. */
  reserved: Uint8Array;
  qeVendorId: Uint8Array;
  userData: Uint8Array;
}

export interface TdReport {
  /** "TD1.0" for body type 2 / v4, "TD1.5" for body type 3. */
  kind: "TD1.0" | "TD1.5";
  teeTcbSvn: Uint8Array;
  mrSeam: Uint8Array;
  mrSignerSeam: Uint8Array;
  seamAttributes: Uint8Array;
  tdAttributes: Uint8Array;
  xfam: Uint8Array;
  mrTd: Uint8Array;
  mrConfigId: Uint8Array;
  mrOwner: Uint8Array;
  mrOwnerConfig: Uint8Array;
  rtmrs: [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  reportData: Uint8Array;
  /** TD 1.5 only. */
  teeTcbSvn2?: Uint8Array;
  /** TD 1.5 only. */
  mrServiceTd?: Uint8Array;
}

/** SGX enclave report body: here, the Quoting Enclave's report. */
export interface SgxReport {
  cpuSvn: Uint8Array;
  miscSelect: number;
  attributes: Uint8Array;
  mrEnclave: Uint8Array;
  mrSigner: Uint8Array;
  isvProdId: number;
  isvSvn: number;
  reportData: Uint8Array;
  /** The 384 raw bytes, which is what the PCK key signed. */
  raw: Uint8Array;
}

export interface QeReportCertificationData {
  qeReport: SgxReport;
  /** Raw r‖s, 64 bytes. */
  qeReportSignature: Uint8Array;
  qeAuthData: Uint8Array;
  /** Inner certification data type (5 = PCK certificate chain, PEM). */
  certDataType: number;
  /** PEM text of PCK leaf, intermediate CA, root (as the quote carries it). */
  pckChainPem: string;
}

export interface TdxQuote {
  header: QuoteHeader;
  /** For v5, 2 or 3; for v4, 2 (implicit). */
  bodyType: number;
  body: TdReport;
  /** header ‖ (v5 type+size) ‖ body: what the attestation key signed. */
  signedRegion: Uint8Array;
  /** Raw r‖s, 64 bytes. */
  signature: Uint8Array;
  /** Raw x‖y, 64 bytes (uncompressed point without the 0x04 prefix). */
  attestationKey: Uint8Array;
  certification: QeReportCertificationData;
  /** Offset just past the signature data; anything after it was ignored. */
  quoteLength: number;
}

/** Little-endian, bounds-checked cursor. Every failure names the field, never reads past `end`. */
class Cursor {
  private pos: number;
  constructor(
    private readonly bytes: Uint8Array,
    start: number,
    private readonly end: number,
    private readonly what: string,
  ) {
    this.pos = start;
  }
  get offset(): number {
    return this.pos;
  }
  get remaining(): number {
    return this.end - this.pos;
  }
  private need(n: number, field: string): void {
    if (n < 0 || n > this.remaining) {
      throw new EvidenceFormatError(`${this.what}: truncated at ${field}`, {
        field,
        offset: this.pos,
        needed: n,
        available: this.remaining,
      });
    }
  }
  take(n: number, field: string): Uint8Array {
    this.need(n, field);
    // Copy, so a caller mutating the input buffer later cannot change a parsed quote.
    const out = this.bytes.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  skip(n: number, field: string): void {
    this.need(n, field);
    this.pos += n;
  }
  u16(field: string): number {
    const b = this.take(2, field);
    return b[0]! | (b[1]! << 8);
  }
  u32(field: string): number {
    const b = this.take(4, field);
    return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
  }
}

function parseHeader(c: Cursor): QuoteHeader {
  const version = c.u16("header.version");
  const attKeyType = c.u16("header.att_key_type");
  const teeType = c.u32("header.tee_type");
  const reserved = c.take(4, "header.reserved");
  const qeVendorId = c.take(16, "header.qe_vendor_id");
  const userData = c.take(20, "header.user_data");
  if (version !== 4 && version !== 5) {
    throw new EvidenceFormatError(`quote version ${version} is not a TDX quote version (4 or 5)`, { version });
  }
  if (teeType !== TEE_TYPE_TDX) {
    throw new EvidenceFormatError(`quote tee_type 0x${teeType.toString(16)} is not TDX (0x81)`, { teeType });
  }
  if (attKeyType !== ATT_KEY_TYPE_ECDSA_P256) {
    throw new EvidenceFormatError(`attestation key type ${attKeyType} is not ECDSA-256-with-P-256 (2)`, { attKeyType });
  }
  return { version, attKeyType, teeType, reserved, qeVendorId, userData };
}

function parseTdReport(c: Cursor, kind: TdReport["kind"]): TdReport {
  const report: TdReport = {
    kind,
    teeTcbSvn: c.take(16, "body.tee_tcb_svn"),
    mrSeam: c.take(48, "body.mrseam"),
    mrSignerSeam: c.take(48, "body.mrsignerseam"),
    seamAttributes: c.take(8, "body.seam_attributes"),
    tdAttributes: c.take(8, "body.td_attributes"),
    xfam: c.take(8, "body.xfam"),
    mrTd: c.take(48, "body.mrtd"),
    mrConfigId: c.take(48, "body.mrconfigid"),
    mrOwner: c.take(48, "body.mrowner"),
    mrOwnerConfig: c.take(48, "body.mrownerconfig"),
    rtmrs: [c.take(48, "body.rtmr0"), c.take(48, "body.rtmr1"), c.take(48, "body.rtmr2"), c.take(48, "body.rtmr3")],
    reportData: c.take(64, "body.report_data"),
  };
  if (kind === "TD1.5") {
    report.teeTcbSvn2 = c.take(16, "body.tee_tcb_svn2");
    report.mrServiceTd = c.take(48, "body.mrservicetd");
  }
  return report;
}

function parseSgxReport(c: Cursor): SgxReport {
  const start = c.offset;
  const raw = c.take(SGX_REPORT_SIZE, "qe_report");
  const r = new Cursor(raw, 0, raw.byteLength, `QE report at ${start}`);
  const cpuSvn = r.take(16, "cpu_svn");
  const miscSelect = r.u32("misc_select");
  r.skip(28, "reserved1");
  const attributes = r.take(16, "attributes");
  const mrEnclave = r.take(32, "mr_enclave");
  r.skip(32, "reserved2");
  const mrSigner = r.take(32, "mr_signer");
  r.skip(96, "reserved3");
  const isvProdId = r.u16("isv_prod_id");
  const isvSvn = r.u16("isv_svn");
  r.skip(60, "reserved4");
  const reportData = r.take(64, "report_data");
  return { cpuSvn, miscSelect, attributes, mrEnclave, mrSigner, isvProdId, isvSvn, reportData, raw };
}

/** Largest certification data we accept (a PEM chain of three P-256 certificates is ~4 KiB). */
const MAX_CERT_DATA = 32 * 1024;

function parseCertificationData(c: Cursor): QeReportCertificationData {
  const type = c.u16("cert_data.type");
  const size = c.u32("cert_data.size");
  if (type !== CERT_DATA_QE_REPORT) {
    throw new EvidenceFormatError(`certification data type ${type} is not QE report certification data (6)`, { type });
  }
  if (size > c.remaining || size > MAX_CERT_DATA) {
    throw new EvidenceFormatError("quote: truncated at cert_data", { size, available: c.remaining });
  }
  const inner = new Cursor(c.take(size, "cert_data"), 0, size, "QE report certification data");
  const qeReport = parseSgxReport(inner);
  const qeReportSignature = inner.take(64, "qe_report_signature");
  const authSize = inner.u16("qe_auth_data.size");
  const qeAuthData = inner.take(authSize, "qe_auth_data");
  const certDataType = inner.u16("pck_cert_data.type");
  const pckSize = inner.u32("pck_cert_data.size");
  if (certDataType !== CERT_DATA_PCK_CHAIN) {
    throw new EvidenceFormatError(`inner certification data type ${certDataType} is not a PCK certificate chain (5)`, {
      certDataType,
    });
  }
  const pckBytes = inner.take(pckSize, "pck_cert_data");
  // Some quote generators NUL-terminate the PEM text; anything else non-ASCII is malformed.
  let end = pckBytes.byteLength;
  while (end > 0 && pckBytes[end - 1] === 0) end--;
  for (let i = 0; i < end; i++) {
    const b = pckBytes[i]!;
    if (b > 0x7e || (b < 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09)) {
      throw new EvidenceFormatError("PCK certificate chain is not PEM text", { offset: i });
    }
  }
  const pckChainPem = Buffer.from(pckBytes.subarray(0, end)).toString("latin1");
  return { qeReport, qeReportSignature, qeAuthData, certDataType, pckChainPem };
}

/** Parse a TDX DCAP quote. Throws EvidenceFormatError (only) on any malformed input. */
export function parseTdxQuote(bytes: Uint8Array): TdxQuote {
  if (!(bytes instanceof Uint8Array)) throw new EvidenceFormatError("quote must be bytes");
  if (bytes.byteLength > MAX_QUOTE_SIZE) {
    throw new EvidenceFormatError(`quote is ${bytes.byteLength} bytes, over the ${MAX_QUOTE_SIZE} limit`);
  }
  const c = new Cursor(bytes, 0, bytes.byteLength, "quote");
  const header = parseHeader(c);
  let bodyType = BODY_TYPE_TD10;
  let kind: TdReport["kind"] = "TD1.0";
  if (header.version === 5) {
    bodyType = c.u16("body_type");
    const bodySize = c.u32("body_size");
    if (bodyType === BODY_TYPE_TD10) kind = "TD1.0";
    else if (bodyType === BODY_TYPE_TD15) kind = "TD1.5";
    else throw new EvidenceFormatError(`v5 body type ${bodyType} is not a TD report (2 or 3)`, { bodyType });
    const expected = kind === "TD1.0" ? TD_REPORT10_SIZE : TD_REPORT15_SIZE;
    if (bodySize !== expected) {
      throw new EvidenceFormatError(`v5 body size ${bodySize} does not match body type ${bodyType} (${expected})`, {
        bodySize,
      });
    }
  }
  const body = parseTdReport(c, kind);
  const signedEnd = c.offset;
  const sigLen = c.u32("signature_data_len");
  if (sigLen > c.remaining) {
    throw new EvidenceFormatError("quote: truncated at signature_data", { sigLen, available: c.remaining });
  }
  const quoteLength = c.offset + sigLen;
  // Parse the signature data inside its declared length only.
  const s = new Cursor(bytes, c.offset, quoteLength, "quote signature data");
  const signature = s.take(64, "quote_signature");
  const attestationKey = s.take(64, "attestation_key");
  const certification = parseCertificationData(s);
  return {
    header,
    bodyType,
    body,
    signedRegion: bytes.slice(0, signedEnd),
    signature,
    attestationKey,
    certification,
    quoteLength,
  };
}

/** TD_ATTRIBUTES (u64 little-endian) decoded. Bit numbers: Intel TDX module ABI, TDREPORT. */
export interface TdAttributes {
  debug: boolean;
  septVeDisable: boolean;
  pks: boolean;
  keyLocker: boolean;
  perfmon: boolean;
  /** The whole field as lower-case hex in quote byte order. */
  hex: string;
}

export function decodeTdAttributes(attrs: Uint8Array): TdAttributes {
  const v = Buffer.from(attrs).readBigUInt64LE(0);
  const bit = (n: number): boolean => ((v >> BigInt(n)) & 1n) === 1n;
  return {
    debug: bit(0),
    septVeDisable: bit(28),
    pks: bit(30),
    keyLocker: bit(31),
    perfmon: bit(63),
    hex: Buffer.from(attrs).toString("hex"),
  };
}
