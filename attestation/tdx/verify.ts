import { createHash, createPublicKey, timingSafeEqual, verify as cryptoVerify, type KeyObject, type X509Certificate } from "node:crypto";
import type { CheckList } from "../result.js";
import { EvidenceFormatError } from "../errors.js";
import { BoundedCache, pemCertificates, sha256Hex, verifyChain, type ChainEntry, type TrustAnchor } from "./chain.js";
import { parsePckExtensions, SGX_EXTENSIONS_OID, type PckExtensions } from "./pck.js";
import type { TdxQuote } from "./quote.js";
import { X509Certificate as PeculiarCertificate } from "./x509.js";
import { messageOf } from "../../lib/errors.js";

/**
 * Stage 2: the signatures and chains inside a parsed quote. No collateral, no policy.
 *
 *   attestation key ──signs──▶ header ‖ TD report
 *   PCK leaf key    ──signs──▶ QE report, whose report_data = SHA-256(att_key ‖ qe_auth_data) ‖ 0³²
 *   PCK leaf ← PCK Platform/Processor CA ← pinned Intel SGX Root CA
 */

/** Intel's Quoting Enclave vendor id (the only QE vendor whose quotes Intel collateral covers). */
export const INTEL_QE_VENDOR_ID = "939a7233f79c4ca9940a0db3957f0607";

/**
 * PCK extensions by leaf fingerprint: parsing them with @peculiar/x509 costs far more than every
 * signature check of a quote, and a platform presents the same PCK certificate for years.
 */
export const pckExtensionCache = new BoundedCache<PckExtensions>(1024);

export function pckExtensionsOf(leaf: X509Certificate): PckExtensions {
  const key = sha256Hex(leaf.raw);
  const cached = pckExtensionCache.get(key);
  if (cached) return cached;
  let ext;
  try {
    ext = new PeculiarCertificate(leaf.raw).getExtension(SGX_EXTENSIONS_OID);
  } catch (e) {
    throw new EvidenceFormatError(`PCK certificate extensions unreadable: ${messageOf(e)}`);
  }
  if (!ext) throw new EvidenceFormatError(`PCK certificate has no SGX extension ${SGX_EXTENSIONS_OID}`);
  const parsed = parsePckExtensions(new Uint8Array(ext.value));
  pckExtensionCache.set(key, parsed);
  return parsed;
}

export interface QuoteSignatureOutcome {
  /** Leaf first, pinned root last; absent when the chain could not be parsed. */
  pckChain?: X509Certificate[];
  pck?: PckExtensions;
}

/** `key` is a thunk: reading a certificate's public key throws when its SPKI is malformed. */
function p1363Verify(key: () => KeyObject, data: Uint8Array, sig: Uint8Array): boolean {
  try {
    return cryptoVerify("sha256", data, { key: key(), dsaEncoding: "ieee-p1363" }, sig);
  } catch {
    return false;
  }
}

/** The attestation key is a raw P-256 point x‖y (64 bytes). */
export function attestationPublicKey(raw: Uint8Array): KeyObject {
  return createPublicKey({
    key: {
      kty: "EC",
      crv: "P-256",
      x: Buffer.from(raw.subarray(0, 32)).toString("base64url"),
      y: Buffer.from(raw.subarray(32, 64)).toString("base64url"),
    },
    format: "jwk",
  });
}

export function verifyQuoteSignatures(
  quote: TdxQuote,
  anchor: TrustAnchor,
  now: Date,
  checks: CheckList,
  cache?: BoundedCache<ChainEntry>,
): QuoteSignatureOutcome {
  const vendor = Buffer.from(quote.header.qeVendorId).toString("hex");
  checks.add("tdx.quote.qe_vendor", vendor === INTEL_QE_VENDOR_ID, vendor === INTEL_QE_VENDOR_ID ? "Intel QE" : `unknown QE vendor ${vendor}`);

  // Quote signature by the attestation key.
  let attKey: KeyObject | undefined;
  try {
    attKey = attestationPublicKey(quote.attestationKey);
  } catch {
    checks.fail("tdx.quote.signature", "attestation key is not a valid P-256 point");
  }
  if (attKey) {
    const ok = p1363Verify(() => attKey, quote.signedRegion, quote.signature);
    checks.add("tdx.quote.signature", ok, ok ? `ECDSA P-256 over bytes [0, ${quote.signedRegion.byteLength})` : "quote signature by the attestation key is invalid");
  }

  // QE report binds the attestation key: report_data = SHA-256(att_key ‖ qe_auth_data) ‖ 32 zero bytes.
  const { qeReport, qeAuthData, qeReportSignature, pckChainPem } = quote.certification;
  const expected = Buffer.concat([createHash("sha256").update(quote.attestationKey).update(qeAuthData).digest(), Buffer.alloc(32)]);
  const bound = timingSafeEqual(expected, qeReport.reportData);
  checks.add("tdx.qe_report.binding", bound, bound ? "QE report_data = SHA-256(attestation key ‖ QE auth data)" : "QE report_data does not commit to the attestation key");

  // PCK chain, then the QE report signature by the PCK leaf.
  const outcome: QuoteSignatureOutcome = {};
  let ders: Buffer[];
  try {
    ders = pemCertificates(pckChainPem, "PCK certificate chain");
  } catch (e) {
    checks.fail("tdx.pck.chain.signatures", messageOf(e));
    checks.fail("tdx.qe_report.signature", "no PCK certificate to verify it with");
    return outcome;
  }
  let chain;
  try {
    chain = verifyChain(ders, anchor, now, checks, "tdx.pck.chain", 3, cache);
  } catch (e) {
    if (!(e instanceof EvidenceFormatError)) throw e;
    checks.fail("tdx.pck.chain.signatures", e.message);
    checks.fail("tdx.qe_report.signature", "no PCK certificate to verify it with");
    return outcome;
  }
  outcome.pckChain = chain.certs;
  const leaf = chain.certs[0]!;
  const qeOk = p1363Verify(() => leaf.publicKey, qeReport.raw, qeReportSignature);
  checks.add("tdx.qe_report.signature", qeOk, qeOk ? "QE report signed by the PCK key" : "QE report signature by the PCK key is invalid");

  try {
    outcome.pck = pckExtensionsOf(leaf);
    checks.pass(
      "tdx.pck.extensions",
      `FMSPC ${Buffer.from(outcome.pck.fmspc).toString("hex")}, PCESVN ${outcome.pck.pceSvn}, SGX type ${outcome.pck.sgxType}`,
    );
  } catch (e) {
    if (!(e instanceof EvidenceFormatError)) throw e;
    checks.fail("tdx.pck.extensions", e.message);
  }
  return outcome;
}
