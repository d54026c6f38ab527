import { Type } from "@sinclair/typebox";
import { KBS_RESOURCE_SEGMENT_MAX_LENGTH, KBS_RESOURCE_SEGMENT_PATTERN } from "../../protocol/kbs.js";

/** Each path segment per KBS-PROTOCOL.md; the routes also bound its length. */
const Segment = Type.String({ pattern: KBS_RESOURCE_SEGMENT_PATTERN, maxLength: KBS_RESOURCE_SEGMENT_MAX_LENGTH });
export const ResourceParams = Type.Object({ repo: Segment, type: Segment, tag: Segment });

export const ErrorBody = Type.Object({ type: Type.String(), detail: Type.String() });

export const AuthBody = Type.Object(
  {
    version: Type.String({ maxLength: 64 }),
    tee: Type.String({ minLength: 1, maxLength: 64 }),
    "extra-params": Type.Optional(Type.Unknown()),
  },
  { additionalProperties: true },
);

const Jwk = Type.Object({ kty: Type.String({ maxLength: 16 }) }, { additionalProperties: true, maxProperties: 16 });

export const AttestBody = Type.Object(
  {
    "runtime-data": Type.Object(
      { nonce: Type.String({ minLength: 1, maxLength: 1024 }), "tee-pubkey": Jwk },
      { additionalProperties: true, maxProperties: 32 },
    ),
    "tee-evidence": Type.Object(
      { primary_evidence: Type.Unknown(), additional_evidence: Type.Optional(Type.String({ maxLength: 1024 * 1024 })) },
      { additionalProperties: true },
    ),
    "init-data": Type.Optional(Type.Object({ format: Type.String({ maxLength: 32 }), body: Type.String({ maxLength: 64 * 1024 }) }, { additionalProperties: true })),
  },
  // Members a newer client may add are ignored (never hashed, stored or echoed), not refused.
  { additionalProperties: true, maxProperties: 16 },
);

export const JweBody = Type.Object({
  protected: Type.String(),
  encrypted_key: Type.String(),
  iv: Type.String(),
  ciphertext: Type.String(),
  tag: Type.String(),
});
