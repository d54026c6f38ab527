import { Type, type Static } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { EvidenceFormatError } from "../errors.js";
import { MAX_QUOTE_SIZE } from "./quote.js";
import { messageOf } from "../../lib/errors.js";

/** Standard base64 with padding, as Trustee's serde (base64 STANDARD) reads and writes it. */
const B64 = (maxBytes: number) =>
  Type.String({ minLength: 4, maxLength: Math.ceil(maxBytes / 3) * 4, pattern: "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$" });

/** A CCEL ACPI event log is typically well under 1 MiB; bound what we accept to 2 MiB. */
export const MAX_EVENT_LOG_BYTES = 2 * 1024 * 1024;

/**
 * Trustee's TDX `primary_evidence` (trustee deps/verifier/src/tdx/mod.rs `TdxEvidence`, read at
 * 78962cd: `quote` and `cc_eventlog`, both decoded with base64 STANDARD). guest-components' TDX
 * attester also sends `aa_eventlog` (the attestation agent's event log, text), which Trustee's serde
 * ignores. Both event logs are accepted and not interpreted here: RTMR replay is a separate concern.
 */
export const TdxEvidenceJson = Type.Object(
  {
    quote: B64(MAX_QUOTE_SIZE),
    cc_eventlog: Type.Optional(Type.Union([B64(MAX_EVENT_LOG_BYTES), Type.Null()])),
    aa_eventlog: Type.Optional(Type.Union([Type.String({ maxLength: MAX_EVENT_LOG_BYTES }), Type.Null()])),
  },
  { additionalProperties: false },
);
export type TdxEvidenceJson = Static<typeof TdxEvidenceJson>;

const check = TypeCompiler.Compile(TdxEvidenceJson);

export interface TdxEvidence {
  quote: Buffer;
  ccEventLog?: Buffer;
  aaEventLog?: string;
}

/** Validate and decode the evidence JSON; throws EvidenceFormatError naming the first problems. */
export function decodeTdxEvidence(value: unknown): TdxEvidence {
  if (!check.Check(value)) {
    const problems = [...check.Errors(value)].slice(0, 5).map((e) => `${e.path || "/"}: ${e.message}`);
    throw new EvidenceFormatError(`TDX evidence is invalid: ${problems.join("; ")}`, { problems });
  }
  const out: TdxEvidence = { quote: Buffer.from(value.quote, "base64") };
  if (typeof value.cc_eventlog === "string") out.ccEventLog = Buffer.from(value.cc_eventlog, "base64");
  if (typeof value.aa_eventlog === "string") out.aaEventLog = value.aa_eventlog;
  return out;
}

/** Build the evidence JSON from a quote (the attester side, and tests). */
export function encodeTdxEvidence(quote: Uint8Array, ccEventLog?: Uint8Array): TdxEvidenceJson {
  const out: TdxEvidenceJson = { quote: Buffer.from(quote).toString("base64") };
  if (ccEventLog) out.cc_eventlog = Buffer.from(ccEventLog).toString("base64");
  return out;
}

/**
 * The quote inside an evidence file as the CLI reads it: either Trustee's TDX evidence JSON
 * (`{"quote": base64, …}`) or the raw quote bytes.
 */
export function quoteFromEvidenceFile(bytes: Uint8Array): Buffer {
  const head = Buffer.from(bytes.subarray(0, 16)).toString("latin1").trimStart();
  if (!head.startsWith("{")) return Buffer.from(bytes);
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (e) {
    throw new EvidenceFormatError(`evidence file is not JSON: ${messageOf(e)}`);
  }
  return decodeTdxEvidence(json).quote;
}
