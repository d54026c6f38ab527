import { createHash } from "node:crypto";
import { CheckList, type Checked } from "../protocol/index.js";
import { CertError } from "./errors.js";
import { isCertKind, type CertKind } from "./kinds.js";
import { x509 } from "../lib/x509.js";
import { messageOf } from "../lib/errors.js";

export interface CertificateIdentity {
  /** The subject CN: a proplet id, "manager", "operator:<name>" or a server name. */
  commonName: string;
  /** The kind from the subject OU, when it is one of ours. */
  kind: CertKind | null;
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  /** "serverAuth" / "clientAuth" / other OIDs. */
  extendedKeyUsages: string[];
  dnsNames: string[];
  ipAddresses: string[];
  /** SHA-256 of the DER, hex: for logs and pinning. */
  fingerprintSha256: string;
}

const EKU_NAMES: Record<string, string> = {
  [x509.ExtendedKeyUsage.serverAuth]: "serverAuth",
  [x509.ExtendedKeyUsage.clientAuth]: "clientAuth",
};

/** Parses a PEM (the first certificate of a chain file) or DER certificate. */
export function parseCertificate(input: string | Uint8Array): x509.X509Certificate {
  try {
    if (typeof input === "string") {
      const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(input);
      if (!first) throw new Error("no PEM certificate");
      return new x509.X509Certificate(first[0]);
    }
    return new x509.X509Certificate(input);
  } catch {
    throw new CertError("cert_malformed", "not a readable X.509 certificate");
  }
}

/** Who a certificate names (no trust decision: see verifyCertificate). */
export function readIdentity(input: string | Uint8Array | x509.X509Certificate): CertificateIdentity {
  const cert = input instanceof x509.X509Certificate ? input : parseCertificate(input);
  const cns = cert.subjectName.getField("CN");
  if (cns.length !== 1 || !cns[0]) throw new CertError("cert_malformed", `the certificate must name exactly one CN, it names ${cns.length}`);
  const ous = cert.subjectName.getField("OU");
  const ou = ous.length === 1 ? ous[0]! : "";
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const names = san ? san.names.toJSON() : [];
  return {
    commonName: cns[0],
    kind: isCertKind(ou) ? ou : null,
    serialNumber: cert.serialNumber,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    extendedKeyUsages: (eku?.usages ?? []).map((u) => EKU_NAMES[String(u)] ?? String(u)),
    dnsNames: names.filter((n) => n.type === "dns").map((n) => n.value),
    ipAddresses: names.filter((n) => n.type === "ip").map((n) => n.value),
    fingerprintSha256: createHash("sha256").update(Buffer.from(cert.rawData)).digest("hex"),
  };
}

export interface VerifyCertificateOptions {
  /** When to judge validity (default now). */
  at?: Date;
  /** Require this extended key usage. */
  purpose?: "serverAuth" | "clientAuth";
  /** Require this kind (subject OU). */
  kind?: CertKind;
  /** The CA's revocation list (PEM or DER): adds the `cert.not-revoked` check. */
  crl?: string | Uint8Array;
}

export interface CertificateVerification extends Checked {
  identity: CertificateIdentity | null;
}

/**
 * Checks a leaf against the CA that should have issued it directly (our PKI has no
 * intermediates): CA is a valid CA, issuer name and key identifier match, signature, validity,
 * the leaf is not itself a CA, and optionally purpose (EKU) and kind. Every check is reported.
 */
export async function verifyCertificate(
  leafInput: string | Uint8Array,
  caInput: string | Uint8Array,
  options: VerifyCertificateOptions = {},
): Promise<CertificateVerification> {
  const checks = new CheckList();
  const at = options.at ?? new Date();
  let leaf: x509.X509Certificate;
  let ca: x509.X509Certificate;
  try {
    leaf = parseCertificate(leafInput);
    ca = parseCertificate(caInput);
    checks.pass("cert.parse");
  } catch (err) {
    checks.fail("cert.parse", messageOf(err));
    return { ok: false, checks: checks.checks, identity: null };
  }
  let identity: CertificateIdentity | null = null;
  try {
    identity = readIdentity(leaf);
    checks.pass("cert.subject", identity.commonName);
  } catch (err) {
    checks.fail("cert.subject", messageOf(err));
  }

  const caBc = ca.getExtension(x509.BasicConstraintsExtension);
  const caKu = ca.getExtension(x509.KeyUsagesExtension);
  checks.add("ca.is-ca", Boolean(caBc?.ca) && Boolean(caKu && caKu.usages & x509.KeyUsageFlags.keyCertSign), caBc?.ca ? "CA:true, keyCertSign" : "not a CA certificate");
  checks.add("ca.validity", ca.notBefore <= at && at <= ca.notAfter, `${ca.notBefore.toISOString()} – ${ca.notAfter.toISOString()}`);

  checks.add("cert.issuer", leaf.issuerName.toString() === ca.subjectName.toString(), `issued by "${leaf.issuer}"`);
  const aki = leaf.getExtension(x509.AuthorityKeyIdentifierExtension);
  const ski = ca.getExtension(x509.SubjectKeyIdentifierExtension);
  checks.add("cert.authority-key-id", Boolean(aki?.keyId && ski?.keyId && aki.keyId === ski.keyId), aki?.keyId ? `keyid ${aki.keyId}` : "no authority key identifier");
  let signatureOk = false;
  try {
    signatureOk = await leaf.verify({ publicKey: ca.publicKey, signatureOnly: true });
  } catch {
    signatureOk = false;
  }
  checks.add("cert.signature", signatureOk, signatureOk ? "signed by the CA key" : "not signed by the CA key");
  checks.add("cert.validity", leaf.notBefore <= at && at <= leaf.notAfter, `${leaf.notBefore.toISOString()} – ${leaf.notAfter.toISOString()}`);
  const leafBc = leaf.getExtension(x509.BasicConstraintsExtension);
  checks.add("cert.not-ca", !leafBc?.ca, leafBc?.ca ? "a CA certificate cannot be an identity" : "end entity");
  if (options.purpose) {
    const usages = identity?.extendedKeyUsages ?? [];
    checks.add("cert.purpose", usages.includes(options.purpose), `EKU ${usages.join(", ") || "none"}; need ${options.purpose}`);
  }
  if (options.kind) {
    checks.add("cert.kind", identity?.kind === options.kind, `kind ${identity?.kind ?? "unknown"}; need ${options.kind}`);
  }
  if (options.crl !== undefined) await checkRevocation(checks, leaf, ca, options.crl, at);
  return { ok: checks.ok, checks: checks.checks, identity };
}

async function checkRevocation(checks: CheckList, leaf: x509.X509Certificate, ca: x509.X509Certificate, input: string | Uint8Array, at: Date): Promise<void> {
  let crl: x509.X509Crl;
  try {
    crl = new x509.X509Crl(input);
  } catch {
    checks.fail("crl.parse", "not a readable CRL");
    return;
  }
  // A list is only worth what its signature is: an unsigned "nothing revoked" proves nothing.
  const signed = await crl.verify({ publicKey: ca.publicKey }).catch(() => false);
  checks.add("crl.signature", signed && crl.issuerName.toString() === ca.subjectName.toString(), signed ? "signed by the CA" : "not signed by the CA");
  checks.add("crl.current", crl.thisUpdate <= at && (crl.nextUpdate === undefined || at <= crl.nextUpdate), `next update ${crl.nextUpdate?.toISOString() ?? "none"}`);
  const entry = crl.findRevoked(leaf);
  checks.add("cert.not-revoked", entry === null, entry ? `revoked ${entry.revocationDate.toISOString()}` : "not on the CA's list");
}
