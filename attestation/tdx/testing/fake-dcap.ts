/**
 * A DCAP "fake that really signs": its own root CA, PCK CA, PCK leaf (with a real SGX extension),
 * QE report, attestation key, TCB Signing key and CRLs. Everything is signed with real ECDSA P-256
 * keys, so the verifier under test runs unchanged; only the trust anchor differs. Used to reach
 * branches the real vectors cannot (revocation, every TCB status, module identities, debug).
 */
import * as asn1js from "asn1js";
import { createHash, KeyObject, sign, webcrypto } from "node:crypto";
import { x509 } from "../x509.js";
import { SGX_EXTENSIONS_OID } from "../pck.js";

const subtle = webcrypto.subtle;
const EC = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIG = { name: "ECDSA", hash: "SHA-256" } as const;
type Keys = CryptoKeyPair;
type CryptoKeyPair = Awaited<ReturnType<typeof subtle.generateKey>> & { privateKey: webcrypto.CryptoKey; publicKey: webcrypto.CryptoKey };

async function keys(): Promise<Keys> {
  return (await subtle.generateKey(EC, true, ["sign", "verify"])) as Keys;
}

export interface PckTcb {
  components: number[];
  pceSvn: number;
  fmspc: string;
  sgxType?: number;
}

function sgxExtension(tcb: PckTcb): x509.Extension {
  const pairOf = (oid: string, value: asn1js.AsnType) => new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: oid }), value] });
  const tcbItems = tcb.components.map((svn, i) => pairOf(`${SGX_EXTENSIONS_OID}.2.${i + 1}`, new asn1js.Integer({ value: svn })));
  tcbItems.push(pairOf(`${SGX_EXTENSIONS_OID}.2.17`, new asn1js.Integer({ value: tcb.pceSvn })));
  tcbItems.push(pairOf(`${SGX_EXTENSIONS_OID}.2.18`, new asn1js.OctetString({ valueHex: new Uint8Array(tcb.components).buffer })));
  const seq = new asn1js.Sequence({
    value: [
      pairOf(`${SGX_EXTENSIONS_OID}.1`, new asn1js.OctetString({ valueHex: new Uint8Array(16).fill(7).buffer })),
      pairOf(`${SGX_EXTENSIONS_OID}.2`, new asn1js.Sequence({ value: tcbItems })),
      pairOf(`${SGX_EXTENSIONS_OID}.3`, new asn1js.OctetString({ valueHex: new Uint8Array(2).buffer })),
      pairOf(`${SGX_EXTENSIONS_OID}.4`, new asn1js.OctetString({ valueHex: new Uint8Array(Buffer.from(tcb.fmspc, "hex")).buffer })),
      pairOf(`${SGX_EXTENSIONS_OID}.5`, new asn1js.Enumerated({ value: tcb.sgxType ?? 0 })),
    ],
  });
  return new x509.Extension(SGX_EXTENSIONS_OID, false, seq.toBER());
}

const YEAR = 365 * 24 * 3600 * 1000;
export const FAKE_EPOCH = new Date("2030-01-01T00:00:00Z");

async function cert(opts: {
  subject: string;
  issuer: string;
  serial: string;
  publicKey: webcrypto.CryptoKey;
  signingKey: webcrypto.CryptoKey;
  ca: boolean;
  notBefore?: Date;
  notAfter?: Date;
  extensions?: x509.Extension[];
}): Promise<x509.X509Certificate> {
  return x509.X509CertificateGenerator.create({
    serialNumber: opts.serial,
    subject: opts.subject,
    issuer: opts.issuer,
    notBefore: opts.notBefore ?? new Date(FAKE_EPOCH.getTime() - YEAR),
    notAfter: opts.notAfter ?? new Date(FAKE_EPOCH.getTime() + YEAR),
    publicKey: opts.publicKey,
    signingKey: opts.signingKey,
    signingAlgorithm: SIG,
    extensions: [
      new x509.BasicConstraintsExtension(opts.ca, opts.ca ? 1 : undefined, true),
      new x509.KeyUsagesExtension(opts.ca ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign : x509.KeyUsageFlags.digitalSignature, true),
      ...(opts.extensions ?? []),
    ],
  });
}

export const ROOT_DN = "CN=Fake SGX Root CA, O=Propeller Test";
export const PCK_CA_DN = "CN=Fake SGX PCK Platform CA, O=Propeller Test";
export const TCB_SIGNING_DN = "CN=Fake SGX TCB Signing, O=Propeller Test";

export interface FakePki {
  rootPem: string;
  root: x509.X509Certificate;
  rootKeys: Keys;
  pckCa: x509.X509Certificate;
  pckCaKeys: Keys;
  tcbSigning: x509.X509Certificate;
  tcbSigningKeys: Keys;
  tcbSigningChainPem: string;
}

export async function fakePki(): Promise<FakePki> {
  const rootKeys = await keys();
  const root = await cert({ subject: ROOT_DN, issuer: ROOT_DN, serial: "01", publicKey: rootKeys.publicKey, signingKey: rootKeys.privateKey, ca: true });
  const pckCaKeys = await keys();
  const pckCa = await cert({ subject: PCK_CA_DN, issuer: ROOT_DN, serial: "02", publicKey: pckCaKeys.publicKey, signingKey: rootKeys.privateKey, ca: true });
  const tcbSigningKeys = await keys();
  const tcbSigning = await cert({ subject: TCB_SIGNING_DN, issuer: ROOT_DN, serial: "03", publicKey: tcbSigningKeys.publicKey, signingKey: rootKeys.privateKey, ca: false });
  return {
    rootPem: root.toString("pem"),
    root,
    rootKeys,
    pckCa,
    pckCaKeys,
    tcbSigning,
    tcbSigningKeys,
    tcbSigningChainPem: `${tcbSigning.toString("pem")}\n${root.toString("pem")}\n`,
  };
}

export interface FakeQuoteOptions {
  version?: 4 | 5;
  teeTcbSvn?: number[];
  tdAttributes?: Buffer;
  mrSignerSeam?: Buffer;
  reportData?: Buffer;
  pck?: PckTcb;
  pckSerial?: string;
  pckNotBefore?: Date;
  pckNotAfter?: Date;
  qeIsvSvn?: number;
  qeMrSigner?: Buffer;
}

export interface FakeQuote {
  bytes: Buffer;
  pckLeaf: x509.X509Certificate;
}

function rawSig(key: KeyObject, data: Uint8Array): Buffer {
  return sign("sha256", data, { key, dsaEncoding: "ieee-p1363" });
}

export const FAKE_FMSPC = "00aa6f000000";
export const FAKE_QE_MRSIGNER = "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5";

export async function fakeQuote(pki: FakePki, o: FakeQuoteOptions = {}): Promise<FakeQuote> {
  const version = o.version ?? 4;
  const pckKeys = await keys();
  const pckLeaf = await cert({
    subject: "CN=Fake SGX PCK Certificate, O=Propeller Test",
    issuer: PCK_CA_DN,
    serial: o.pckSerial ?? "4242",
    publicKey: pckKeys.publicKey,
    signingKey: pki.pckCaKeys.privateKey,
    ca: false,
    ...(o.pckNotBefore ? { notBefore: o.pckNotBefore } : {}),
    ...(o.pckNotAfter ? { notAfter: o.pckNotAfter } : {}),
    extensions: [sgxExtension(o.pck ?? { components: [5, 5, 2, 2, 3, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0], pceSvn: 13, fmspc: FAKE_FMSPC })],
  });
  const pckKey = KeyObject.from(pckKeys.privateKey);
  const attKeys = await keys();
  const attJwk = await subtle.exportKey("jwk", attKeys.publicKey);
  const attRaw = Buffer.concat([Buffer.from(attJwk.x!, "base64url"), Buffer.from(attJwk.y!, "base64url")]);

  const header = Buffer.alloc(48);
  header.writeUInt16LE(version, 0);
  header.writeUInt16LE(2, 2);
  header.writeUInt32LE(0x81, 4);
  Buffer.from("939a7233f79c4ca9940a0db3957f0607", "hex").copy(header, 12);

  const body = Buffer.alloc(584);
  Buffer.from(o.teeTcbSvn ?? [3, 0, 5]).copy(body, 0);
  (o.mrSignerSeam ?? Buffer.alloc(48)).copy(body, 16 + 48);
  (o.tdAttributes ?? Buffer.from("0000001000000000", "hex")).copy(body, 16 + 48 + 48 + 8);
  body.fill(0xa5, 136, 184); // mrtd
  (o.reportData ?? Buffer.alloc(64, 0x11)).copy(body, 520);
  const signed = version === 5 ? Buffer.concat([header, Buffer.from([2, 0]), Buffer.from([0x48, 0x02, 0, 0]), body]) : Buffer.concat([header, body]);

  const authData = Buffer.alloc(32, 0x33);
  const qeReport = Buffer.alloc(384);
  qeReport.writeUInt32LE(0, 16); // miscselect
  Buffer.from("11000000000000000000000000000000", "hex").copy(qeReport, 48);
  (o.qeMrSigner ?? Buffer.from(FAKE_QE_MRSIGNER, "hex")).copy(qeReport, 128);
  qeReport.writeUInt16LE(2, 256); // isvprodid
  qeReport.writeUInt16LE(o.qeIsvSvn ?? 8, 258);
  createHash("sha256").update(attRaw).update(authData).digest().copy(qeReport, 320);
  const pem = Buffer.from(`${pckLeaf.toString("pem")}\n${pki.pckCa.toString("pem")}\n${pki.root.toString("pem")}\n\0`, "latin1");

  const u16 = (n: number) => Buffer.from([n & 0xff, n >> 8]);
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return b;
  };
  const qeCert = Buffer.concat([qeReport, rawSig(pckKey, qeReport), u16(authData.length), authData, u16(5), u32(pem.length), pem]);
  const sigData = Buffer.concat([rawSig(KeyObject.from(attKeys.privateKey), signed), attRaw, u16(6), u32(qeCert.length), qeCert]);
  return { bytes: Buffer.concat([signed, u32(sigData.length), sigData]), pckLeaf };
}

const comps = (svns: number[]) => Array.from({ length: 16 }, (_, i) => ({ svn: svns[i] ?? 0 }));

export interface FakeLevel {
  sgx: number[];
  pceSvn: number;
  tdx: number[];
  status: string;
  advisories?: string[];
}

export interface FakeTcbInfoOptions {
  fmspc?: string;
  levels?: FakeLevel[];
  moduleIdentities?: { id: string; mrsigner?: string; levels: { isvsvn: number; status: string; advisories?: string[] }[] }[];
  issueDate?: Date;
  nextUpdate?: Date;
}

function signBody(pki: FakePki, member: string, value: unknown): Promise<string> {
  const json = JSON.stringify(value);
  return (async () => {
    const sig = rawSig(KeyObject.from(pki.tcbSigningKeys.privateKey), Buffer.from(json));
    return `{"${member}":${json},"signature":"${sig.toString("hex")}"}`;
  })();
}

export function fakeTcbInfo(pki: FakePki, o: FakeTcbInfoOptions = {}): Promise<string> {
  const level = (l: FakeLevel) => ({
    tcb: { sgxtcbcomponents: comps(l.sgx), pcesvn: l.pceSvn, tdxtcbcomponents: comps(l.tdx) },
    tcbDate: "2029-01-01T00:00:00Z",
    tcbStatus: l.status,
    ...(l.advisories ? { advisoryIDs: l.advisories } : {}),
  });
  const zero48 = "00".repeat(48);
  return signBody(pki, "tcbInfo", {
    id: "TDX",
    version: 3,
    issueDate: (o.issueDate ?? new Date(FAKE_EPOCH.getTime() - 24 * 3600e3)).toISOString(),
    nextUpdate: (o.nextUpdate ?? new Date(FAKE_EPOCH.getTime() + 30 * 24 * 3600e3)).toISOString(),
    fmspc: o.fmspc ?? FAKE_FMSPC,
    pceId: "0000",
    tcbType: 0,
    tcbEvaluationDataNumber: 99,
    tdxModule: { mrsigner: zero48, attributes: "0000000000000000", attributesMask: "FFFFFFFFFFFFFFFF" },
    tdxModuleIdentities: (o.moduleIdentities ?? []).map((m) => ({
      id: m.id,
      mrsigner: m.mrsigner ?? zero48,
      attributes: "0000000000000000",
      attributesMask: "FFFFFFFFFFFFFFFF",
      tcbLevels: m.levels.map((l) => ({ tcb: { isvsvn: l.isvsvn }, tcbDate: "2029-01-01T00:00:00Z", tcbStatus: l.status, ...(l.advisories ? { advisoryIDs: l.advisories } : {}) })),
    })),
    tcbLevels: (o.levels ?? [{ sgx: [5, 5, 2, 2, 3, 1, 0, 3], pceSvn: 13, tdx: [3, 0, 5], status: "UpToDate" }]).map(level),
  });
}

export function fakeQeIdentity(pki: FakePki, levels: { isvsvn: number; status: string; advisories?: string[] }[] = [{ isvsvn: 8, status: "UpToDate" }]): Promise<string> {
  return signBody(pki, "enclaveIdentity", {
    id: "TD_QE",
    version: 2,
    issueDate: new Date(FAKE_EPOCH.getTime() - 24 * 3600e3).toISOString(),
    nextUpdate: new Date(FAKE_EPOCH.getTime() + 30 * 24 * 3600e3).toISOString(),
    tcbEvaluationDataNumber: 99,
    miscselect: "00000000",
    miscselectMask: "FFFFFFFF",
    attributes: "11000000000000000000000000000000",
    attributesMask: "FBFFFFFFFFFFFFFF0000000000000000",
    mrsigner: FAKE_QE_MRSIGNER.toUpperCase(),
    isvprodid: 2,
    tcbLevels: levels.map((l) => ({ tcb: { isvsvn: l.isvsvn }, tcbDate: "2029-01-01T00:00:00Z", tcbStatus: l.status, ...(l.advisories ? { advisoryIDs: l.advisories } : {}) })),
  });
}

/** A CRL signed by `issuer`'s key, listing `revokedSerials` (hex). */
export async function fakeCrl(issuerDn: string, issuerKeys: Keys, revokedSerials: string[], thisUpdate?: Date, nextUpdate?: Date): Promise<Buffer> {
  const crl = await x509.X509CrlGenerator.create({
    issuer: issuerDn,
    thisUpdate: thisUpdate ?? new Date(FAKE_EPOCH.getTime() - 24 * 3600e3),
    nextUpdate: nextUpdate ?? new Date(FAKE_EPOCH.getTime() + 30 * 24 * 3600e3),
    entries: revokedSerials.map((serialNumber) => ({ serialNumber, revocationDate: new Date(FAKE_EPOCH.getTime() - 3600e3) })),
    signingKey: issuerKeys.privateKey,
    signingAlgorithm: SIG,
  });
  return Buffer.from(crl.rawData);
}

/** Full collateral for the fake PKI, with CRLs that revoke nothing unless told. */
export async function fakeCollateral(pki: FakePki, o: { tcbInfo?: FakeTcbInfoOptions; qe?: Parameters<typeof fakeQeIdentity>[1]; revokedPck?: string[] } = {}) {
  return {
    tcbInfo: await fakeTcbInfo(pki, o.tcbInfo),
    qeIdentity: await fakeQeIdentity(pki, o.qe),
    tcbSigningChain: pki.tcbSigningChainPem,
    pckCrl: await fakeCrl(PCK_CA_DN, pki.pckCaKeys, o.revokedPck ?? []),
    rootCaCrl: await fakeCrl(ROOT_DN, pki.rootKeys, []),
  };
}
