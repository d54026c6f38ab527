import { EvidenceFormatError } from "../errors.js";
import { parseCertificate, pemCertificates } from "./chain.js";
import { parsePckExtensions, SGX_EXTENSIONS_OID } from "./pck.js";
import type { TdxQuote } from "./quote.js";
import { X509Certificate } from "./x509.js";

/**
 * FMSPC of the PCK leaf in a quote, before anything is verified: only to choose which collateral
 * to fetch. Returns undefined when the chain or extension is unreadable (verification then fails).
 */
export function pckFmspcOfQuote(quote: TdxQuote): string | undefined {
  try {
    const [leafDer] = pemCertificates(quote.certification.pckChainPem, "PCK certificate chain");
    const leaf = parseCertificate(leafDer!, "PCK certificate");
    const ext = new X509Certificate(leaf.raw).getExtension(SGX_EXTENSIONS_OID);
    if (!ext) return undefined;
    return Buffer.from(parsePckExtensions(new Uint8Array(ext.value)).fmspc).toString("hex");
  } catch (e) {
    if (e instanceof EvidenceFormatError) return undefined;
    throw e;
  }
}
