import { x509 } from "../../lib/x509.js";
import { EvidenceFormatError } from "../errors.js";
import { TpmConfigError } from "./ak.js";
import { messageOf } from "../../lib/errors.js";
import type { CheckOutcome } from "../../protocol/index.js";

/** Trust anchors for EK certificates: the TPM vendors' roots and, if needed, their intermediates. */
export interface EkRoots {
  /** PEM text (one or more certificates) or DER. */
  roots: ReadonlyArray<string | Uint8Array>;
  intermediates?: ReadonlyArray<string | Uint8Array>;
}

export interface EkCheck extends CheckOutcome {
  subject: string;
  issuer: string;
}

/** Vendor chains are root → (one or two intermediates) → EK; more than this is not a real chain. */
const MAX_DEPTH = 4;

function isCa(cert: x509.X509Certificate): boolean {
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  if (bc?.ca !== true) return false;
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  return ku === null || (ku.usages & x509.KeyUsageFlags.keyCertSign) !== 0;
}

function same(a: x509.X509Certificate, b: x509.X509Certificate): boolean {
  return Buffer.from(a.rawData).equals(Buffer.from(b.rawData));
}

/** Parsed trust anchors; build once with `loadEkTrust` so bad configuration fails at start-up. */
export interface EkTrust {
  roots: x509.X509Certificate[];
  intermediates: x509.X509Certificate[];
}

export function loadEkTrust(trust: EkRoots | EkTrust): EkTrust {
  if (trust.roots.length === 0) throw new TpmConfigError("EK trust anchors are unusable: no root certificates");
  if (isLoaded(trust)) return trust;
  try {
    const roots = load(trust.roots);
    if (roots.length === 0) throw new Error("no root certificates in the PEM");
    return { roots, intermediates: load(trust.intermediates ?? []) };
  } catch (err) {
    throw new TpmConfigError(`EK trust anchors are unusable: ${messageOf(err)}`);
  }
}

function isLoaded(trust: EkRoots | EkTrust): trust is EkTrust {
  return trust.roots.every((r) => r instanceof x509.X509Certificate) && (trust.intermediates ?? []).every((r) => r instanceof x509.X509Certificate);
}

function load(items: ReadonlyArray<string | Uint8Array>): x509.X509Certificate[] {
  const out: x509.X509Certificate[] = [];
  for (const item of items) {
    if (typeof item === "string") {
      // X509Certificates(string) would try PKCS#7 too; decode the PEM blocks ourselves.
      for (const der of x509.PemConverter.decode(item)) out.push(new x509.X509Certificate(der));
    } else {
      out.push(new x509.X509Certificate(Buffer.from(item)));
    }
  }
  return out;
}

/**
 * Verifies an EK certificate up to one of the configured roots, every certificate valid at `now`.
 * Proves the EK belongs to a TPM the vendor made; it does NOT bind the quoting AK to that EK
 * (that needs credential activation), so AK trust still comes from the allow-list.
 */
export async function verifyEkCertificate(der: Uint8Array, anchors: EkRoots | EkTrust, now: Date): Promise<EkCheck> {
  const trust = loadEkTrust(anchors);
  let leaf: x509.X509Certificate;
  try {
    leaf = new x509.X509Certificate(Buffer.from(der));
  } catch (err) {
    throw new EvidenceFormatError(`ek_cert is not a DER X.509 certificate: ${messageOf(err)}`);
  }
  const roots = trust.roots;
  const pool = [...trust.intermediates, ...roots];
  const base = { subject: leaf.subject, issuer: leaf.issuer };
  let current = leaf;
  for (let depth = 0; depth <= MAX_DEPTH; depth++) {
    if (now < current.notBefore || now > current.notAfter) {
      return { ...base, ok: false, detail: `"${current.subject}" is not valid at ${now.toISOString()} (${current.notBefore.toISOString()} → ${current.notAfter.toISOString()})` };
    }
    if (roots.some((r) => same(r, current))) return { ...base, ok: true, detail: `EK certificate chains to root "${current.subject}"` };
    let next: x509.X509Certificate | undefined;
    for (const candidate of pool) {
      if (candidate.subject !== current.issuer || same(candidate, current)) continue;
      // Only a CA may issue: a leaf with a matching name must not extend the chain.
      if (!isCa(candidate)) continue;
      if (await current.verify({ publicKey: candidate, signatureOnly: true })) {
        next = candidate;
        break;
      }
    }
    if (!next) return { ...base, ok: false, detail: `no configured certificate signed "${current.subject}" (issuer "${current.issuer}")` };
    current = next;
  }
  return { ...base, ok: false, detail: `EK chain longer than ${MAX_DEPTH}` };
}
