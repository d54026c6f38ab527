import { createPrivateKey, sign as cryptoSign, webcrypto, type KeyObject } from "node:crypto";
import * as asn1js from "asn1js";
import type { AmdProduct } from "../../roots/amd/index.js";
import type { AmdRoots } from "../certs.js";
import { AMD_OID } from "../certs.js";
import { encodeTcb, SNP_REPORT_SIZE, SNP_SIGNATURE_OFFSET, SNP_SIGNED_LENGTH, type TcbLayout } from "../report.js";
import { x509 } from "../x509.js";

/**
 * A fake AMD that really signs, as go-sev-guest's testing/ package does: its own ARK, ASK, ASVK,
 * VCEK and VLEK (fresh keys, AMD's certificate profile: RSASSA-PSS/SHA-384/salt 48 for the chain,
 * ECDSA P-384 for the VEKs, the KDS extensions) and a report builder whose output it signs. Tests
 * pass `fake.roots` as the pinned roots, so every policy branch can be reached with a genuine chain.
 * Test-only: never import from product code.
 */

const subtle = webcrypto.subtle;
const AMD_DN = (cn: string) => `OU=Engineering, C=US, L=Santa Clara, ST=CA, O=Advanced Micro Devices, CN=${cn}`;
// RSA-2048 rather than AMD's 4096: the profile checks do not depend on the size; key generation does.
const RSA_PSS = { name: "RSA-PSS", hash: "SHA-384", publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 } as const;
const PSS_SIGN = { name: "RSA-PSS", saltLength: 48 } as const;
const EC = { name: "ECDSA", namedCurve: "P-384" } as const;

const der = (node: asn1js.BaseBlock): Buffer => Buffer.from(node.toBER(false));
const derInt = (n: number): Buffer => der(new asn1js.Integer({ value: n }));
const derIa5 = (s: string): Buffer => der(new asn1js.IA5String({ value: s }));
const derOctets = (b: Buffer): Buffer => der(new asn1js.OctetString({ valueHex: new Uint8Array(b) }));

export interface FakeTcb {
  bootloader: number;
  tee: number;
  snp: number;
  microcode: number;
  fmc?: number;
}

export interface FakeVekOptions {
  kind?: "vcek" | "vlek";
  productName?: string;
  spls?: FakeTcb;
  hwId?: Buffer;
  /** Encode hwID as a DER OCTET STRING (new KDS) instead of raw bytes (legacy). */
  hwIdAsOctetString?: boolean;
  notBefore?: Date;
  notAfter?: Date;
  /** Raw extension values by OID, replacing (or adding) the ones built above: malformed-DER tests. */
  extensionValues?: Record<string, Buffer>;
}

export interface FakeVek {
  cert: x509.X509Certificate;
  der: Buffer;
  pem: string;
  key: KeyObject;
}

export interface FakeAmd {
  product: AmdProduct;
  ark: x509.X509Certificate;
  ask: x509.X509Certificate;
  asvk: x509.X509Certificate;
  roots: AmdRoots;
  issueVek(options?: FakeVekOptions): Promise<FakeVek>;
  /** A KDS-style CRL signed by this ARK (RSASSA-PSS/SHA-384/salt 48), DER. */
  issueCrl(options?: { revokedSerials?: string[]; thisUpdate?: Date; nextUpdate?: Date }): Promise<Buffer>;
}

const YEAR = 365 * 24 * 3600 * 1000;

export async function createFakeAmd(product: AmdProduct = "Milan", validFrom = new Date("2020-01-01T00:00:00Z")): Promise<FakeAmd> {
  const until = new Date(validFrom.getTime() + 25 * YEAR);
  const arkKeys = (await subtle.generateKey(RSA_PSS, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const askKeys = (await subtle.generateKey(RSA_PSS, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const asvkKeys = (await subtle.generateKey(RSA_PSS, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const ark = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: AMD_DN(`ARK-${product}`),
    notBefore: validFrom,
    notAfter: until,
    keys: arkKeys,
    signingAlgorithm: PSS_SIGN,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  const intermediate = async (cn: string, keys: webcrypto.CryptoKeyPair, serial: string) =>
    x509.X509CertificateGenerator.create({
      serialNumber: serial,
      subject: AMD_DN(cn),
      issuer: ark.subject,
      notBefore: validFrom,
      notAfter: until,
      publicKey: keys.publicKey,
      signingKey: arkKeys.privateKey,
      signingAlgorithm: PSS_SIGN,
      extensions: [new x509.BasicConstraintsExtension(true, 0, true)],
    });
  const ask = await intermediate(`SEV-${product}`, askKeys, "02");
  const asvk = await intermediate(`SEV-VLEK-${product}`, asvkKeys, "03");

  let serial = 16;
  const issueVek = async (o: FakeVekOptions = {}): Promise<FakeVek> => {
    const kind = o.kind ?? "vcek";
    const spls = o.spls ?? { bootloader: 3, tee: 0, snp: 8, microcode: 115 };
    const keys = (await subtle.generateKey(EC, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
    const ext = (oid: string, value: Buffer) => new x509.Extension(oid, false, o.extensionValues?.[oid] ?? value);
    const extensions = [
      ext(AMD_OID.structVersion, derInt(1)),
      ext(AMD_OID.productName, derIa5(o.productName ?? (kind === "vcek" ? `${product}-B0` : product))),
      ext(AMD_OID.blSpl, derInt(spls.bootloader)),
      ext(AMD_OID.teeSpl, derInt(spls.tee)),
      ext(AMD_OID.snpSpl, derInt(spls.snp)),
      ext(AMD_OID.ucodeSpl, derInt(spls.microcode)),
    ];
    if (spls.fmc !== undefined) extensions.push(ext(AMD_OID.fmcSpl, derInt(spls.fmc)));
    if (kind === "vcek") {
      const hwId = o.hwId ?? Buffer.alloc(64, 0xab);
      extensions.push(ext(AMD_OID.hwId, o.hwIdAsOctetString ? derOctets(hwId) : hwId));
    } else {
      extensions.push(ext(AMD_OID.cspId, derIa5("CN=fake-csp.example")));
    }
    const built = new Set(extensions.map((e) => e.type));
    for (const [oid, value] of Object.entries(o.extensionValues ?? {})) if (!built.has(oid)) extensions.push(ext(oid, value));
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: (serial++).toString(16).padStart(2, "0"),
      subject: AMD_DN(kind === "vcek" ? "SEV-VCEK" : "SEV-VLEK"),
      issuer: (kind === "vcek" ? ask : asvk).subject,
      notBefore: o.notBefore ?? validFrom,
      notAfter: o.notAfter ?? new Date(validFrom.getTime() + 7 * YEAR),
      publicKey: keys.publicKey,
      signingKey: (kind === "vcek" ? askKeys : asvkKeys).privateKey,
      signingAlgorithm: PSS_SIGN,
      extensions,
    });
    const pkcs8 = Buffer.from(await subtle.exportKey("pkcs8", keys.privateKey));
    return { cert, der: Buffer.from(cert.rawData), pem: cert.toString("pem"), key: createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" }) };
  };

  const issueCrl: FakeAmd["issueCrl"] = async (o = {}) => {
    const thisUpdate = o.thisUpdate ?? validFrom;
    const crl = await x509.X509CrlGenerator.create({
      issuer: ark.subject,
      thisUpdate,
      nextUpdate: o.nextUpdate ?? new Date(thisUpdate.getTime() + 30 * 24 * 3600e3),
      entries: (o.revokedSerials ?? []).map((serialNumber) => ({ serialNumber, revocationDate: thisUpdate })),
      signingKey: arkKeys.privateKey,
      signingAlgorithm: PSS_SIGN,
    });
    return Buffer.from(crl.rawData);
  };

  return { product, ark, ask, asvk, roots: { [product]: { ark, ask, asvk } }, issueVek, issueCrl };
}

export interface FakeReportFields {
  version?: number;
  guestSvn?: number;
  /** Raw guest policy. Default 0x30000 (SMT allowed, reserved bit 17, no debug). */
  policy?: bigint;
  vmpl?: number;
  signingKey?: "vcek" | "vlek";
  reportData?: Buffer;
  measurement?: Buffer;
  hostData?: Buffer;
  idKeyDigest?: Buffer;
  tcb?: FakeTcb;
  chipId?: Buffer;
  cpuid?: { family: number; model: number; stepping: number };
  firmware?: { major: number; minor: number; build: number };
}

/** Builds a report (unsigned). Defaults: v3 Milan (CPUID 0x19/0x01), VMPL 0, TCB 3/0/8/115. */
export function buildFakeReport(f: FakeReportFields = {}): Buffer {
  const d = Buffer.alloc(SNP_REPORT_SIZE);
  const version = f.version ?? 3;
  const cpuid = f.cpuid ?? { family: 0x19, model: 0x01, stepping: 0x01 };
  const layout: TcbLayout = version >= 3 && cpuid.family >= 0x1a ? "turin" : "milan-genoa";
  const tcb = encodeTcb(f.tcb ?? { bootloader: 3, tee: 0, snp: 8, microcode: 115 }, layout);
  d.writeUInt32LE(version, 0x00);
  d.writeUInt32LE(f.guestSvn ?? 0, 0x04);
  d.writeBigUInt64LE(f.policy ?? 0x30000n, 0x08);
  d.writeUInt32LE(f.vmpl ?? 0, 0x30);
  d.writeUInt32LE(1, 0x34);
  tcb.copy(d, 0x38);
  d.writeBigUInt64LE(1n, 0x40);
  d.writeUInt32LE((f.signingKey ?? "vcek") === "vlek" ? 1 << 2 : 0, 0x48);
  (f.reportData ?? Buffer.alloc(64)).copy(d, 0x50);
  (f.measurement ?? Buffer.alloc(48, 0x11)).copy(d, 0x90);
  (f.hostData ?? Buffer.alloc(32)).copy(d, 0xc0);
  (f.idKeyDigest ?? Buffer.alloc(48)).copy(d, 0xe0);
  Buffer.alloc(32, 0x22).copy(d, 0x140);
  Buffer.alloc(32, 0xff).copy(d, 0x160);
  tcb.copy(d, 0x180);
  if (version >= 3) {
    d[0x188] = cpuid.family;
    d[0x189] = cpuid.model;
    d[0x18a] = cpuid.stepping;
  }
  (f.chipId ?? Buffer.alloc(64, 0xab)).copy(d, 0x1a0);
  tcb.copy(d, 0x1e0);
  const fw = f.firmware ?? { major: 1, minor: 55, build: 29 };
  d[0x1e8] = fw.build;
  d[0x1e9] = fw.minor;
  d[0x1ea] = fw.major;
  d[0x1ec] = fw.build;
  d[0x1ed] = fw.minor;
  d[0x1ee] = fw.major;
  tcb.copy(d, 0x1f0);
  return d;
}

/** Signs bytes [0, 0x2A0) with the VEK key and writes R and S little-endian, as the firmware does. */
export function signFakeReport(report: Buffer, key: KeyObject): Buffer {
  const out = Buffer.from(report);
  const sig = cryptoSign("sha384", out.subarray(0, SNP_SIGNED_LENGTH), { key, dsaEncoding: "ieee-p1363" });
  out.fill(0, SNP_SIGNATURE_OFFSET);
  Buffer.from(sig.subarray(0, 48)).reverse().copy(out, SNP_SIGNATURE_OFFSET);
  Buffer.from(sig.subarray(48, 96)).reverse().copy(out, SNP_SIGNATURE_OFFSET + 72);
  return out;
}
