import { EvidenceFormatError } from "../errors.js";
import { parseCertificate, pemCertificates } from "./chain.js";
import type { TdxQuote } from "./quote.js";
import { pckExtensionsOf } from "./verify.js";

/**
 * FMSPC of the PCK leaf in a quote, before anything is verified: only to choose which collateral
 * to fetch. Returns undefined when the chain or extension is unreadable (verification then fails).
 */
export function pckFmspcOfQuote(quote: TdxQuote): string | undefined {
  try {
    const [leafDer] = pemCertificates(quote.certification.pckChainPem, "PCK certificate chain");
    return Buffer.from(pckExtensionsOf(parseCertificate(leafDer!, "PCK certificate")).fmspc).toString("hex");
  } catch (e) {
    if (e instanceof EvidenceFormatError) return undefined;
    throw e;
  }
}
