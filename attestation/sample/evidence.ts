import { Type, type Static } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { EvidenceFormatError } from "../errors.js";

/** The sample TEE's report_data is at most a 64-byte field (it carries the 48-byte SHA-384). */
export const MAX_SAMPLE_REPORT_DATA = 64;

/**
 * Trustee's sample evidence (`SampleTeeEvidence`): `svn` a decimal string, `report_data` the
 * standard base64 of the report data. Nothing in it is signed.
 */
export const SampleEvidenceJson = Type.Object(
  {
    svn: Type.String({ pattern: "^[0-9]{1,9}$" }),
    report_data: Type.String({
      maxLength: Math.ceil(MAX_SAMPLE_REPORT_DATA / 3) * 4,
      pattern: "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
    }),
  },
  { additionalProperties: false },
);
export type SampleEvidenceJson = Static<typeof SampleEvidenceJson>;

const check = TypeCompiler.Compile(SampleEvidenceJson);

export function decodeSampleEvidence(value: unknown): SampleEvidenceJson {
  if (check.Check(value)) return value;
  const problems = [...check.Errors(value)].slice(0, 5).map((e) => `${e.path || "/"}: ${e.message}`);
  throw new EvidenceFormatError(`sample evidence is invalid: ${problems.join("; ")}`, { problems });
}
