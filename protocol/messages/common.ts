import { Type, type Static, type TSchema, type TProperties, type TObject, type TLiteral } from "@sinclair/typebox";
import { DIGEST_PATTERN } from "../digest.js";
import { TRACEPARENT_PATTERN } from "../trace.js";
import { PROPLET_ID_PATTERN } from "../topics.js";
import { LIMITS } from "../limits.js";

/** ISO 8601 UTC timestamp as produced by `Date.prototype.toISOString()` (with or without ms). */
export const TIMESTAMP_PATTERN = "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?(Z|[+-]\\d{2}:\\d{2})$";

export const Id = Type.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$" });
export const PropletId = Type.String({ pattern: PROPLET_ID_PATTERN });
export const Timestamp = Type.String({ pattern: TIMESTAMP_PATTERN, maxLength: 40 });
export const DigestString = Type.String({ pattern: DIGEST_PATTERN });
/** Standard base64 (with padding); bounded by the caller. */
export const Base64 = (maxBytes: number) =>
  Type.String({ pattern: "^[A-Za-z0-9+/]*={0,2}$", maxLength: Math.ceil(maxBytes / 3) * 4 });
export const Name = Type.String({ minLength: 1, maxLength: LIMITS.nameBytes });

/** TEE kinds, named as the KBS protocol names them (lower case). */
export const TEE_TYPES = ["sample", "snp", "tdx", "tpm", "az-snp-vtpm", "az-tdx-vtpm", "sgx", "cca"] as const;
export type TeeType = (typeof TEE_TYPES)[number];
export const TeeTypeSchema = Type.Union(TEE_TYPES.map((t) => Type.Literal(t)));

/** Runtimes a proplet may offer. */
export const RUNTIMES = ["wasi-p1", "component", "wasi-http"] as const;
export type RuntimeKind = (typeof RUNTIMES)[number];
export const RuntimeSchema = Type.Union(RUNTIMES.map((r) => Type.Literal(r)));

/** Ways an artifact may reach a proplet. */
export const ARTIFACT_SOURCES = ["inline", "http", "oci", "mqtt"] as const;
export type ArtifactSourceKind = (typeof ARTIFACT_SOURCES)[number];

/** A Wasm numeric value: a JSON number, or a decimal string for i64 values beyond 2^53. */
export const WasmValue = Type.Union([Type.Number(), Type.String({ pattern: "^-?[0-9]{1,20}$" })]);

export const RunRef = Type.Object({ taskId: Id, runId: Id }, { additionalProperties: false });
export type RunRef = Static<typeof RunRef>;

/** Fields every MQTT message carries (ARCHITECTURE.md, wire rule 1). */
export const EnvelopeFields = {
  version: Type.Literal(1),
  messageId: Id,
  timestamp: Timestamp,
  traceparent: Type.String({ pattern: TRACEPARENT_PATTERN }),
} satisfies TProperties;

/** Builds a strict message schema: envelope + `kind` + the message's own fields. */
export function message<K extends string, P extends TProperties>(
  kind: K,
  properties: P,
): TObject<typeof EnvelopeFields & { kind: TLiteral<K> } & P> {
  const all: typeof EnvelopeFields & { kind: TLiteral<K> } & P = { ...EnvelopeFields, kind: Type.Literal(kind), ...properties };
  return Type.Object(
    all,
    { additionalProperties: false, $id: kind },
  );
}

export type Envelope = { version: 1; messageId: string; timestamp: string; traceparent: string };
export type AnySchema = TSchema;
