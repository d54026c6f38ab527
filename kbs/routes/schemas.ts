import { Type } from "@sinclair/typebox";

/** Each path segment per KBS-PROTOCOL.md. */
export const SEGMENT_PATTERN = "^[a-zA-Z0-9_\\-]+[a-zA-Z0-9_\\-.]*$";
const Segment = Type.String({ pattern: SEGMENT_PATTERN, maxLength: 128 });
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
