/** Field schemas several REST resources share. */
import { Type } from "@sinclair/typebox";
import { DIGEST_PATTERN } from "../digest.js";
import { RUNTIMES, TEE_TYPES } from "../messages/common.js";
import { LIMITS } from "../limits.js";

export const Base64 = (maxBytes: number) => Type.String({ pattern: "^[A-Za-z0-9+/]*={0,2}$", maxLength: Math.ceil(maxBytes / 3) * 4 });
export const Runtime = Type.Union(RUNTIMES.map((r) => Type.Literal(r)));
export const Tee = Type.Union(TEE_TYPES.map((t) => Type.Literal(t)));
export const Digest = Type.String({ pattern: DIGEST_PATTERN });
export const Time = Type.String({ format: "date-time" });
export const TimeOrNull = Type.Union([Time, Type.Null()]);
export const Name = Type.String({ minLength: 1, maxLength: LIMITS.nameBytes });
/** An opaque page cursor, as a list reply's `nextCursor` gave it. */
export const Cursor = Type.String({ pattern: "^[A-Za-z0-9_-]{1,64}$" });
/** A returned Wasm value: a number, or a string where a 64-bit integer does not fit a double. */
export const WasmValueOut = Type.Union([Type.Number(), Type.String()]);
/** `{code, message}` of a run's, an invocation's or a request's failure. */
export const CodedError = Type.Object({ code: Type.String(), message: Type.String() });
/** Placement tags a task or function requires of its proplet. */
export const Tags = Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: LIMITS.tags, uniqueItems: true });
/** A run's or a warm instance's linear memory bound. */
export const MemoryBytes = Type.Integer({ minimum: 65536, maximum: LIMITS.maxMemoryBytes });
