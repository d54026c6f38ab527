import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { CRL_FILE, REVOKED_FILE, loadCa, type LoadedCa } from "./ca.js";
import { CertError } from "./errors.js";
import { CERT_MODE, writeFileAtomic } from "./files.js";
import { parseCertificate, readIdentity } from "./identity.js";
import { toPem } from "./keys.js";
import { x509 } from "../lib/x509.js";


const RevokedEntry = Type.Object(
  {
    serial: Type.String({ pattern: "^[0-9a-f]{2,40}$" }),
    commonName: Type.String({ maxLength: 128 }),
    revokedAt: Type.String({ pattern: "^\\d{4}-\\d{2}-\\d{2}T[0-9:.]+Z$" }),
  },
  { additionalProperties: false },
);
const RevokedList = Type.Object({ crlNumber: Type.Integer({ minimum: 0 }), revoked: Type.Array(RevokedEntry, { maxItems: 100_000 }) }, { additionalProperties: false });
type RevokedList = { crlNumber: number; revoked: Array<{ serial: string; commonName: string; revokedAt: string }> };

async function readRevoked(dir: string): Promise<RevokedList> {
  let text: string;
  try {
    text = await readFile(join(dir, REVOKED_FILE), "utf8");
  } catch {
    return { crlNumber: 0, revoked: [] };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CertError("ca_invalid", `${join(dir, REVOKED_FILE)} is not JSON`);
  }
  if (!Value.Check(RevokedList, json)) throw new CertError("ca_invalid", `${join(dir, REVOKED_FILE)} does not have the expected shape`);
  return json as RevokedList;
}

/** DER INTEGER for a non-negative number (the CRL number extension's value). */
function derInteger(n: number): Uint8Array {
  const bytes: number[] = [];
  let v = n;
  do {
    bytes.unshift(v & 0xff);
    v = Math.floor(v / 256);
  } while (v > 0);
  if (bytes[0]! & 0x80) bytes.unshift(0);
  return Uint8Array.from([0x02, bytes.length, ...bytes]);
}

/**
 * (Re)writes `ca.crl` (PEM) from `revoked.json`, signed by the CA, with a CRL number and the CA's
 * key identifier. nextUpdate is the CA's own expiry: a development PKI has no CRL publisher, and
 * an expired CRL would make every TLS peer that checks it refuse everyone.
 */
export async function writeCrl(dir: string, loaded?: LoadedCa): Promise<string> {
  const ca = loaded ?? (await loadCa(dir));
  const list = await readRevoked(dir);
  const crl = await x509.X509CrlGenerator.create({
    issuer: ca.certificate.subjectName,
    thisUpdate: new Date(),
    nextUpdate: ca.certificate.notAfter,
    signingKey: ca.signingKey,
    signingAlgorithm: ca.signingAlgorithm,
    extensions: [await x509.AuthorityKeyIdentifierExtension.create(ca.certificate), new x509.Extension("2.5.29.20", false, derInteger(list.crlNumber))],
    // No reason code: RFC 5280 says to omit "unspecified" rather than encode it.
    entries: list.revoked.map((r) => ({ serialNumber: r.serial, revocationDate: new Date(r.revokedAt) })),
  });
  const path = join(dir, CRL_FILE);
  // "X509 CRL" is the PEM label OpenSSL (Mosquitto, Node) reads.
  await writeFileAtomic(path, toPem("X509 CRL", Buffer.from(crl.rawData)), CERT_MODE, true);
  return path;
}

/**
 * Revokes the certificate `<name>.pem` in `dir` (our CA must have issued it) and rewrites the
 * CRL. Brokers and servers that load `ca.crl` refuse it from their next (re)load on.
 */
export async function revoke(dir: string, name: string): Promise<{ serial: string; commonName: string; crlPath: string }> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name) || name === "ca") throw new CertError("cert_name_invalid", `"${name}" is not a certificate name`);
  const ca = await loadCa(dir);
  let pem: string;
  try {
    pem = await readFile(join(dir, `${name}.pem`), "utf8");
  } catch {
    throw new CertError("cert_malformed", `no certificate ${name}.pem in ${dir}`);
  }
  const cert = parseCertificate(pem);
  if (!(await cert.verify({ publicKey: ca.certificate.publicKey, signatureOnly: true }).catch(() => false))) {
    throw new CertError("cert_malformed", `${name}.pem was not issued by the CA in ${dir}`);
  }
  const { commonName, serialNumber } = readIdentity(cert);
  const list = await readRevoked(dir);
  if (!list.revoked.some((r) => r.serial === serialNumber)) {
    list.revoked.push({ serial: serialNumber, commonName, revokedAt: new Date().toISOString() });
  }
  list.crlNumber += 1;
  await writeFileAtomic(join(dir, REVOKED_FILE), JSON.stringify(list, null, 2) + "\n", CERT_MODE, true);
  const crlPath = await writeCrl(dir, ca);
  return { serial: serialNumber, commonName, crlPath };
}
