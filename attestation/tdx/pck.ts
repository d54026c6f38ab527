// asn1js is the DER parser @peculiar/x509 itself is built on (installed with it; see the report).
import * as asn1js from "asn1js";
import { messageOf } from "../../lib/errors.js";
import { EvidenceFormatError } from "../errors.js";

/**
 * Intel SGX PCK certificate extensions (OID 1.2.840.113741.1.13.1), from Intel's "SGX PCK
 * Certificate and CRL Profile": a SEQUENCE of { OID, value } pairs under the SGX arc.
 */
export const SGX_EXTENSIONS_OID = "1.2.840.113741.1.13.1";
const OID_PPID = `${SGX_EXTENSIONS_OID}.1`;
const OID_TCB = `${SGX_EXTENSIONS_OID}.2`;
const OID_PCEID = `${SGX_EXTENSIONS_OID}.3`;
const OID_FMSPC = `${SGX_EXTENSIONS_OID}.4`;
const OID_SGX_TYPE = `${SGX_EXTENSIONS_OID}.5`;
const OID_PCESVN = `${OID_TCB}.17`;
const OID_CPUSVN = `${OID_TCB}.18`;

export interface PckExtensions {
  ppid: Uint8Array;
  /** SGX TCB component SVNs 1..16 (index 0 = component 1). */
  tcbComponents: number[];
  pceSvn: number;
  cpuSvn: Uint8Array;
  pceId: Uint8Array;
  fmspc: Uint8Array;
  /** 0 = Standard, 1 = Scalable, 2 = Scalable with integrity. */
  sgxType: number;
}

function fail(message: string): never {
  throw new EvidenceFormatError(`PCK certificate SGX extension: ${message}`);
}

function children(block: asn1js.AsnType, what: string): asn1js.AsnType[] {
  if (!(block instanceof asn1js.Sequence)) fail(`${what} is not a SEQUENCE`);
  return block.valueBlock.value as asn1js.AsnType[];
}

function pair(block: asn1js.AsnType, what: string): [string, asn1js.AsnType] {
  const items = children(block, what);
  const [oid, value] = items;
  if (items.length !== 2 || !(oid instanceof asn1js.ObjectIdentifier) || value === undefined) {
    fail(`${what} is not an { OID, value } pair`);
  }
  return [oid.valueBlock.toString(), value];
}

function octets(v: asn1js.AsnType, what: string, length?: number): Uint8Array {
  if (!(v instanceof asn1js.OctetString)) fail(`${what} is not an OCTET STRING`);
  const out = new Uint8Array(v.valueBlock.valueHexView);
  if (length !== undefined && out.byteLength !== length) fail(`${what} is ${out.byteLength} bytes, expected ${length}`);
  return out;
}

function smallInt(v: asn1js.AsnType, what: string, max: number): number {
  if (!(v instanceof asn1js.Integer) && !(v instanceof asn1js.Enumerated)) fail(`${what} is not an INTEGER`);
  const n = v.valueBlock.valueDec;
  if (!Number.isSafeInteger(n) || n < 0 || n > max) fail(`${what} = ${n} is out of range 0..${max}`);
  return n;
}

/** Parse the DER value of the SGX extension (the extnValue contents). */
export function parsePckExtensions(der: Uint8Array): PckExtensions {
  let parsed: ReturnType<typeof asn1js.fromBER>;
  try {
    parsed = asn1js.fromBER(der);
  } catch (e) {
    // asn1js reports most malformed DER through offset -1, but some string types throw instead
    // (a UniversalString whose length is not a multiple of 4 throws a RangeError).
    fail(`not DER (${messageOf(e)})`);
  }
  if (parsed.offset === -1 || parsed.offset !== der.byteLength) fail("not a single DER value");
  const seen = new Map<string, asn1js.AsnType>();
  for (const item of children(parsed.result, "extension")) {
    const [oid, value] = pair(item, "extension entry");
    if (seen.has(oid)) fail(`duplicate entry ${oid}`);
    seen.set(oid, value);
  }
  const get = (oid: string, name: string): asn1js.AsnType => seen.get(oid) ?? fail(`missing ${name} (${oid})`);

  const tcb = new Map<string, asn1js.AsnType>();
  for (const item of children(get(OID_TCB, "TCB"), "TCB")) {
    const [oid, value] = pair(item, "TCB entry");
    if (tcb.has(oid)) fail(`duplicate TCB entry ${oid}`);
    tcb.set(oid, value);
  }
  const tcbComponents: number[] = [];
  for (let i = 1; i <= 16; i++) {
    const v = tcb.get(`${OID_TCB}.${i}`) ?? fail(`missing TCB component ${i}`);
    tcbComponents.push(smallInt(v, `SGX TCB component ${i}`, 255));
  }
  return {
    ppid: octets(get(OID_PPID, "PPID"), "PPID", 16),
    tcbComponents,
    pceSvn: smallInt(tcb.get(OID_PCESVN) ?? fail("missing PCESVN"), "PCESVN", 0xffff),
    cpuSvn: octets(tcb.get(OID_CPUSVN) ?? fail("missing CPUSVN"), "CPUSVN", 16),
    pceId: octets(get(OID_PCEID, "PCE-ID"), "PCE-ID", 2),
    fmspc: octets(get(OID_FMSPC, "FMSPC"), "FMSPC", 6),
    sgxType: smallInt(get(OID_SGX_TYPE, "SGX Type"), "SGX Type", 255),
  };
}
