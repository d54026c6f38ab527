// @peculiar/x509 (set up once in lib/x509.ts) and the bounded certificate reading the SNP modules share.
import { createHash } from "node:crypto";
import { x509 } from "../../lib/x509.js";
import { EvidenceFormatError } from "../errors.js";
import { messageOf } from "../../lib/errors.js";

export { x509 };

/** An AMD certificate is 1.3-1.7 KiB; 16 KiB bounds one with plenty of room. */
export const MAX_CERT_BYTES = 16 * 1024;
/** A bundle (VEK + ASK + ARK + ASVK) never needs more than a handful. */
export const MAX_CERTS_IN_BUNDLE = 8;

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * Reads one or more certificates from PEM text, PEM bytes or DER bytes. Throws EvidenceFormatError
 * on anything unreadable or too large.
 */
export function readCertificates(input: string | Uint8Array): x509.X509Certificate[] {
  const bytes = typeof input === "string" ? Buffer.from(input, "utf8") : Buffer.from(input);
  if (bytes.byteLength > MAX_CERT_BYTES * MAX_CERTS_IN_BUNDLE) {
    throw new EvidenceFormatError(`certificate input is ${bytes.byteLength} bytes, too large`);
  }
  const text = bytes.toString("latin1");
  if (text.includes("-----BEGIN")) {
    const blocks = text.match(PEM_BLOCK) ?? [];
    if (blocks.length === 0) throw new EvidenceFormatError("no PEM CERTIFICATE block found");
    if (blocks.length > MAX_CERTS_IN_BUNDLE) throw new EvidenceFormatError(`${blocks.length} certificates in one bundle (max ${MAX_CERTS_IN_BUNDLE})`);
    return blocks.map((b, i) => parseDer(x509.PemConverter.decodeFirst(b), `PEM certificate ${i + 1}`));
  }
  return [parseDer(bytes, "DER certificate")];
}

/** Reads exactly one certificate. */
export function readCertificate(input: string | Uint8Array): x509.X509Certificate {
  const certs = readCertificates(input);
  if (certs.length !== 1) throw new EvidenceFormatError(`expected one certificate, found ${certs.length}`);
  return certs[0] as x509.X509Certificate;
}

function parseDer(der: ArrayBuffer | Uint8Array, what: string): x509.X509Certificate {
  if (der.byteLength > MAX_CERT_BYTES) throw new EvidenceFormatError(`${what} is ${der.byteLength} bytes (max ${MAX_CERT_BYTES})`);
  try {
    return new x509.X509Certificate(der instanceof Uint8Array ? Buffer.from(der) : der);
  } catch (err) {
    throw new EvidenceFormatError(`${what} cannot be parsed: ${messageOf(err)}`);
  }
}

/** SHA-256 of the DER certificate, lower-case hex. */
export function certFingerprint(cert: x509.X509Certificate): string {
  return createHash("sha256").update(Buffer.from(cert.rawData)).digest("hex");
}

/** The subject CN (the only attribute AMD's certificates are told apart by). */
export function commonName(cert: x509.X509Certificate): string | undefined {
  const cns = cert.subjectName.getField("CN");
  return cns.length === 1 ? cns[0] : undefined;
}
