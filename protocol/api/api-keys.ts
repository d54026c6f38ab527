/** API keys (admin scope). The key text appears once, in the reply to its creation; the hash never. */
import { Type, type Static } from "@sinclair/typebox";
import { Time, TimeOrNull } from "./common.js";
import { KEY_ID_PATTERN } from "../api-key.js";

/** What a credential may do: read, submit (create and change), admin (keys, proplet removal). */
export const API_SCOPES = ["read", "submit", "admin"] as const;
export const ApiScope = Type.Union(API_SCOPES.map((s) => Type.Literal(s)));
export type ApiScope = Static<typeof ApiScope>;
export const ApiKeyCreate = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    scopes: Type.Array(ApiScope, { minItems: 1, maxItems: 3, uniqueItems: true }),
  },
  { additionalProperties: false },
);
export type ApiKeyCreate = Static<typeof ApiKeyCreate>;
export const ApiKey = Type.Object({
  id: Type.String(),
  name: Type.String(),
  scopes: Type.Array(ApiScope),
  createdAt: Time,
  lastUsedAt: TimeOrNull,
  revokedAt: TimeOrNull,
});
export type ApiKey = Static<typeof ApiKey>;
export const ApiKeyCreated = Type.Object({
  ...ApiKey.properties,
  key: Type.String({ description: "the key text: shown only in this reply, store it now" }),
});
export type ApiKeyCreated = Static<typeof ApiKeyCreated>;
export const ApiKeyList = Type.Object({ items: Type.Array(ApiKey) });
export type ApiKeyList = Static<typeof ApiKeyList>;
export const ApiKeyParams = Type.Object({ id: Type.String({ pattern: KEY_ID_PATTERN }) });
export type ApiKeyParams = Static<typeof ApiKeyParams>;
