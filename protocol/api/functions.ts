/** Warm functions: a Wasm export kept loaded on proplets, invoked synchronously. */
import { Type, type Static } from "@sinclair/typebox";
import { WasmValue } from "../messages/common.js";
import { ArtifactInput } from "./artifacts.js";
import { CodedError, MemoryBytes, Tags, Time, WasmValueOut } from "./common.js";

export const FunctionName = Type.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$" });
export const FunctionCreate = Type.Object(
  {
    name: FunctionName,
    artifact: ArtifactInput,
    /** The export every invocation calls (numeric inputs and results). */
    export: Type.String({ minLength: 1, maxLength: 256 }),
    runtime: Type.Optional(Type.Literal("wasi-p1")),
    /** Warm instances per proplet: the concurrency of the function there (default 4). */
    instances: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
    /** Proplets it is kept warm on (default 1). */
    replicas: Type.Optional(Type.Integer({ minimum: 1, maximum: 16 })),
    memoryBytes: Type.Optional(MemoryBytes),
    requirements: Type.Optional(
      Type.Object(
        { tags: Type.Optional(Tags) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type FunctionCreate = Static<typeof FunctionCreate>;

export const FunctionView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  export: Type.String(),
  instances: Type.Integer(),
  replicas: Type.Integer(),
  generation: Type.Integer(),
  placements: Type.Array(Type.Object({ propletId: Type.String(), state: Type.String(), error: Type.Union([Type.String(), Type.Null()]) })),
  createdAt: Time,
});
export type FunctionView = Static<typeof FunctionView>;
export const FunctionList = Type.Object({ items: Type.Array(FunctionView) });
export type FunctionList = Static<typeof FunctionList>;
export const FunctionParams = Type.Object({ name: FunctionName });
export type FunctionParams = Static<typeof FunctionParams>;

export const InvokeRequest = Type.Object(
  {
    inputs: Type.Optional(Type.Array(WasmValue, { maxItems: 64 })),
    /** The whole call, deployment wait included, ends by then (default 10000). */
    deadlineMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 300_000 })),
  },
  { additionalProperties: false },
);
export type InvokeRequest = Static<typeof InvokeRequest>;
export const InvokeReply = Type.Object({
  functionId: Type.String(),
  invocationId: Type.String(),
  propletId: Type.String(),
  outcome: Type.Union([Type.Literal("completed"), Type.Literal("failed")]),
  returnValues: Type.Union([Type.Array(WasmValueOut), Type.Null()]),
  error: Type.Union([CodedError, Type.Null()]),
  /** Manager-side wall time of the call; and the proplet's share of it. */
  durationMs: Type.Number(),
  propletDurationMs: Type.Number(),
});
export type InvokeReply = Static<typeof InvokeReply>;
