import { Type } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { EvidenceFormatError } from "../errors.js";
import { MAX_ATTEST_BYTES } from "../tpm/attest.js";
import { MAX_HCL_REPORT_BYTES } from "./hcl.js";

/**
 * Trustee's az-snp-vtpm `primary_evidence` (deps/verifier/src/az_snp_vtpm/compat.rs), three shapes:
 *
 * - v0 (no `version`): `{quote:{signature:[u8], message:[u8], pcrs:[[u8;32]]}, report:[u8], vcek:"PEM"}`
 * - v1: `{version:1, tpm_quote:{signature:hex, message:hex, pcrs:[hex]}, hcl_report:base64url, vcek:base64url DER}`
 * - v2: as v1; the var_data `user-data` also carries the report data.
 *
 * `signature` is the raw RSASSA-PKCS1-v1_5/SHA-256 signature (not a TPMT_SIGNATURE), `message` the
 * TPMS_ATTEST, `pcrs` the SHA-256 bank by index.
 */

/** RSA-4096 at most. */
const MAX_SIG_BYTES = 512;
const MAX_PCRS = 24;
const MAX_VCEK_BYTES = 8 * 1024;

const byteArray = (max: number) => Type.Array(Type.Integer({ minimum: 0, maximum: 255 }), { maxItems: max });
const hex = (maxBytes: number) => Type.String({ pattern: "^(?:[0-9a-fA-F]{2})*$", maxLength: maxBytes * 2 });
/** serde_with Base64<UrlSafe> (padded on output, padding optional here). */
const b64url = (maxBytes: number) =>
  Type.String({ pattern: "^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2}(?:==)?|[A-Za-z0-9_-]{3}=?)?$", maxLength: Math.ceil(maxBytes / 3) * 4 });

const EvidenceV0 = Type.Object(
  {
    quote: Type.Object(
      {
        signature: byteArray(MAX_SIG_BYTES),
        message: byteArray(MAX_ATTEST_BYTES),
        pcrs: Type.Array(Type.Array(Type.Integer({ minimum: 0, maximum: 255 }), { minItems: 32, maxItems: 32 }), { maxItems: MAX_PCRS }),
      },
      { additionalProperties: false },
    ),
    report: byteArray(MAX_HCL_REPORT_BYTES),
    vcek: Type.String({ maxLength: MAX_VCEK_BYTES * 2 }),
  },
  { additionalProperties: false },
);

const EvidenceV12 = Type.Object(
  {
    version: Type.Union([Type.Literal(1), Type.Literal(2)]),
    tpm_quote: Type.Object(
      {
        signature: hex(MAX_SIG_BYTES),
        message: hex(MAX_ATTEST_BYTES),
        pcrs: Type.Array(Type.String({ pattern: "^[0-9a-fA-F]{64}$" }), { maxItems: MAX_PCRS }),
      },
      { additionalProperties: false },
    ),
    hcl_report: b64url(MAX_HCL_REPORT_BYTES),
    vcek: b64url(MAX_VCEK_BYTES),
  },
  { additionalProperties: false },
);

const checkV0 = TypeCompiler.Compile(EvidenceV0);
const checkV12 = TypeCompiler.Compile(EvidenceV12);

export interface AzSnpVtpmEvidence {
  version: 0 | 1 | 2;
  hclReport: Buffer;
  /** TPMS_ATTEST bytes. */
  quoteMessage: Buffer;
  /** Raw RSASSA-PKCS1-v1_5 signature. */
  quoteSignature: Buffer;
  /** SHA-256 PCR values by index. */
  pcrs: Buffer[];
  /** DER (v1, v2) or PEM text (v0). */
  vcek: Buffer | string;
}

function problems(errors: Iterable<{ path: string; message: string }>): string[] {
  return [...errors].slice(0, 5).map((e) => `${e.path || "/"}: ${e.message}`);
}

/** Validates and decodes any of the three formats. Throws EvidenceFormatError on anything else. */
export function decodeAzSnpVtpmEvidence(value: unknown): AzSnpVtpmEvidence {
  if (typeof value === "object" && value !== null && "version" in value) {
    if (!checkV12.Check(value)) {
      const p = problems(checkV12.Errors(value));
      throw new EvidenceFormatError(`az-snp-vtpm evidence is invalid: ${p.join("; ")}`, { problems: p });
    }
    return {
      version: value.version,
      hclReport: Buffer.from(value.hcl_report, "base64url"),
      quoteMessage: Buffer.from(value.tpm_quote.message, "hex"),
      quoteSignature: Buffer.from(value.tpm_quote.signature, "hex"),
      pcrs: value.tpm_quote.pcrs.map((p) => Buffer.from(p, "hex")),
      vcek: Buffer.from(value.vcek, "base64url"),
    };
  }
  if (!checkV0.Check(value)) {
    const p = problems(checkV0.Errors(value));
    throw new EvidenceFormatError(`az-snp-vtpm evidence (v0) is invalid: ${p.join("; ")}`, { problems: p });
  }
  return {
    version: 0,
    hclReport: Buffer.from(value.report),
    quoteMessage: Buffer.from(value.quote.message),
    quoteSignature: Buffer.from(value.quote.signature),
    pcrs: value.quote.pcrs.map((p) => Buffer.from(p)),
    vcek: value.vcek,
  };
}
