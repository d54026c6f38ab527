import { Type, type Static } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { EvidenceFormatError } from "../errors.js";
import { MAX_ATTEST_BYTES } from "./attest.js";
import { MAX_SIGNATURE_BYTES } from "./signature.js";

/** Standard base64 with padding, the encoding Trustee's serde (base64 STANDARD) reads and writes. */
const B64 = (maxBytes: number) =>
  Type.String({ minLength: 4, maxLength: Math.ceil(maxBytes / 3) * 4, pattern: "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$" });

/** Largest SPKI we take for an AK (RSA-4096 SPKI is ~550 bytes). */
export const MAX_AK_PUBLIC_BYTES = 2048;
/** An EK certificate is 1-2 KiB; 8 KiB bounds it with room for long extensions. */
export const MAX_EK_CERT_BYTES = 8192;
/** PCR values in the evidence: Trustee sends all 24 of the SHA-256 bank. */
export const MAX_PCRS = 32;

/**
 * `tpm_quote` as guest-components' TPM attester writes it and Trustee's TPM verifier reads it
 * (`QuoteStringFormat`): `message` = base64 TPMS_ATTEST, `signature` = base64 TPMT_SIGNATURE,
 * `pcrs` = the SHA-256 bank as 64-hex-digit strings indexed by PCR number.
 */
export const TpmQuoteJson = Type.Object(
  {
    message: B64(MAX_ATTEST_BYTES),
    signature: B64(MAX_SIGNATURE_BYTES),
    pcrs: Type.Array(Type.String({ pattern: "^[0-9a-fA-F]{64}$" }), { maxItems: MAX_PCRS }),
  },
  { additionalProperties: false },
);

/**
 * The TPM `primary_evidence` (Trustee `GuestComponentsEvidence`): `ak_public` is base64 DER
 * SubjectPublicKeyInfo of the attestation key. `svn` and `report_data` are sent by older
 * guest-components attesters; they are accepted and ignored (nothing in them is signed).
 * `ek_cert` (base64 DER X.509) is our optional extension; stock Trustee ignores unknown fields.
 */
export const TpmEvidenceJson = Type.Object(
  {
    ak_public: B64(MAX_AK_PUBLIC_BYTES),
    tpm_quote: TpmQuoteJson,
    ek_cert: Type.Optional(B64(MAX_EK_CERT_BYTES)),
    svn: Type.Optional(Type.String({ maxLength: 16 })),
    report_data: Type.Optional(Type.String({ maxLength: 128 })),
  },
  { additionalProperties: false },
);
export type TpmEvidenceJson = Static<typeof TpmEvidenceJson>;

const check = TypeCompiler.Compile(TpmEvidenceJson);

/** Validates the evidence JSON; throws EvidenceFormatError listing the first problems. */
export function decodeTpmEvidence(value: unknown): TpmEvidenceJson {
  if (check.Check(value)) return value;
  const problems = [...check.Errors(value)].slice(0, 5).map((e) => `${e.path || "/"}: ${e.message}`);
  throw new EvidenceFormatError(`TPM evidence is invalid: ${problems.join("; ")}`, { problems });
}
