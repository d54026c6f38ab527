import { isIP } from "node:net";
import { join } from "node:path";
import { BACKDATE_MS, checkLifetime, loadCa, randomSerial } from "./ca.js";
import { CertError } from "./errors.js";
import { CERT_MODE, KEY_MODE, writeFileAtomic } from "./files.js";
import { generateEcKey } from "./keys.js";
import { KIND_PROFILES, checkName, type CertKind } from "./kinds.js";
import { x509 } from "../lib/x509.js";

export const DEFAULT_LEAF_LIFETIME_DAYS = 365;
/** Leaves longer than ~2 years are refused: rotation is how a lost key stops mattering. */
export const MAX_LEAF_LIFETIME_DAYS = 825;
const DAY_MS = 86_400_000;
const MAX_SANS = 32;

/** Servers are always reachable on loopback by these, so local stacks and tests need no flags. */
export const DEFAULT_SERVER_SANS: readonly string[] = ["DNS:localhost", "IP:127.0.0.1", "IP:::1"];

export interface IssueOptions {
  /** Extra SANs for `server`: "DNS:host", "IP:addr", or a bare host name / address. */
  sans?: readonly string[];
  lifetimeDays?: number;
  /** Replace existing files named `<name>`. */
  force?: boolean;
}

export interface IssuedFiles {
  certPath: string;
  keyPath: string;
  /** Leaf then CA: for servers that must present the whole chain. */
  chainPath: string;
  certificate: x509.X509Certificate;
  commonName: string;
}

/**
 * Issues a leaf certificate of `kind` from the CA in `dir`, with a fresh EC P-256 key, and writes
 * `<name>.pem` (0644), `<name>.key` (0600) and `<name>-chain.pem` (0644) into `dir`.
 *
 * - server: EKU serverAuth, CN = name, SANs = DNS:name (when it is a host name), localhost,
 *   127.0.0.1, ::1 and `sans`.
 * - proplet: EKU clientAuth, CN = the proplet id (PROPLET_ID_PATTERN; "manager" reserved).
 * - manager-client: EKU clientAuth, CN = "manager" (the manager as an MQTT client).
 * - operator: EKU clientAuth, CN = "operator:<name>" (never a proplet id).
 * Every leaf: basicConstraints CA:false (critical), keyUsage digitalSignature (critical),
 * subject and authority key identifiers, a random 16-byte serial, subject OU = the kind.
 */
export async function issue(dir: string, kind: CertKind, name: string, options: IssueOptions = {}): Promise<IssuedFiles> {
  const profile = KIND_PROFILES[kind];
  if (!profile) throw new CertError("cert_name_invalid", `unknown certificate kind "${String(kind)}"`);
  checkName(kind, name);
  const lifetimeDays = options.lifetimeDays ?? DEFAULT_LEAF_LIFETIME_DAYS;
  checkLifetime(lifetimeDays, MAX_LEAF_LIFETIME_DAYS);
  if (!profile.sans && options.sans && options.sans.length > 0) {
    throw new CertError("cert_san_invalid", `a ${kind} certificate is a client identity and carries no SANs`);
  }
  const sans = profile.sans ? serverSans(name, options.sans ?? []) : [];

  const ca = await loadCa(dir);
  const now = Date.now();
  const notAfter = new Date(now + lifetimeDays * DAY_MS);
  if (notAfter > ca.certificate.notAfter) {
    throw new CertError("cert_lifetime_invalid", `the certificate would outlive the CA (which expires ${ca.certificate.notAfter.toISOString()}); choose a shorter lifetime`);
  }
  const commonName = profile.commonName(name);
  const { keys, privateKeyPem } = await generateEcKey("P-256");
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([profile.eku === "serverAuth" ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth], false),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(ca.certificate),
  ];
  if (sans.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(sans, false));

  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [commonName] }, { OU: [kind] }, { O: ["Propeller"] }],
    issuer: ca.certificate.subjectName,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter,
    publicKey: keys.publicKey,
    signingKey: ca.signingKey,
    signingAlgorithm: ca.signingAlgorithm,
    extensions,
  });

  const certPath = join(dir, `${name}.pem`);
  const keyPath = join(dir, `${name}.key`);
  const chainPath = join(dir, `${name}-chain.pem`);
  const force = options.force === true;
  const leafPem = certificate.toString("pem") + "\n";
  await writeFileAtomic(keyPath, privateKeyPem, KEY_MODE, force);
  await writeFileAtomic(certPath, leafPem, CERT_MODE, force);
  await writeFileAtomic(chainPath, leafPem + ca.certPem.trimEnd() + "\n", CERT_MODE, force);
  return { certPath, keyPath, chainPath, certificate, commonName };
}

/** Parses and de-duplicates server SANs; the defaults are always present. */
export function serverSans(name: string, extra: readonly string[]): x509.JsonGeneralName[] {
  const entries = [...DEFAULT_SERVER_SANS, ...extra];
  if (isHostName(name)) entries.unshift(`DNS:${name}`);
  if (entries.length > MAX_SANS) throw new CertError("cert_san_invalid", `at most ${MAX_SANS} SANs`);
  const seen = new Set<string>();
  const out: x509.JsonGeneralName[] = [];
  for (const entry of entries) {
    const san = parseSan(entry);
    const key = `${san.type}:${san.value.toLowerCase()}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(san);
  }
  return out;
}

function parseSan(entry: string): x509.JsonGeneralName {
  const m = /^(DNS|IP):(.*)$/i.exec(entry);
  const type = m ? m[1]!.toUpperCase() : isIP(entry) ? "IP" : "DNS";
  const value = m ? m[2]! : entry;
  if (type === "IP") {
    if (isIP(value) === 0) throw new CertError("cert_san_invalid", `"${value}" is not an IP address`);
    return { type: "ip", value };
  }
  if (!isHostName(value.replace(/^\*\./, ""))) throw new CertError("cert_san_invalid", `"${value}" is not a DNS name`);
  return { type: "dns", value };
}

function isHostName(value: string): boolean {
  return value.length <= 253 && /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(value);
}
