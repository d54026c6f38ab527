import { Type, type Static } from "@sinclair/typebox";
import { JSON_POINTER_PATTERN } from "./json-pointer.js";

/** A value a claim of one TEE may take, valid until `expiresAt` (an expired value no longer matches). */
export interface ReferenceValue {
  id: string;
  tee: string;
  /** JSON pointer into the TEE's claims, e.g. `/measurement`, `/pcrs/7`. */
  claim: string;
  value: unknown;
  expiresAt: string;
  note?: string | undefined;
  createdAt?: string;
  createdBy?: string;
}

/** What an administrator submits (the KBS admin API validates it with this schema). */
export const ReferenceValueInputSchema = Type.Object(
  {
    tee: Type.String({ pattern: "^[a-z0-9-]{1,32}$" }),
    claim: Type.String({ pattern: JSON_POINTER_PATTERN, maxLength: 256 }),
    /** One allowed value; add several rows for an allow-list. */
    value: Type.Union([Type.String({ maxLength: 1024 }), Type.Number(), Type.Boolean()]),
    /** Required: reference values do not live forever. ISO 8601. */
    expiresAt: Type.String({ format: "date-time", maxLength: 40 }),
    note: Type.Optional(Type.String({ maxLength: 512 })),
  },
  { additionalProperties: false },
);
export type ReferenceValueInput = Static<typeof ReferenceValueInputSchema>;
