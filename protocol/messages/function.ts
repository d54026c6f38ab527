/**
 * Invocations: a function — a module's export kept warm in a pool of instances on a
 * proplet — called synchronously. The manager deploys it (function.deploy), the proplet reports it
 * ready (function.status), then every call is function.invoke → function.reply, matched by
 * invocationId, bounded by a deadline the proplet enforces too.
 */
import { Type, type Static } from "@sinclair/typebox";
import { Id, PropletId, RuntimeSchema, WasmValue, message } from "./common.js";
import { ArtifactRef, RunError } from "./task.js";

export const FunctionDeploy = message("function.deploy", {
  propletId: PropletId,
  functionId: Id,
  /** Bumped on every (re)deploy: a status names the generation it is about. */
  generation: Type.Integer({ minimum: 1 }),
  runtime: RuntimeSchema,
  artifact: ArtifactRef,
  /** The export every invocation calls. */
  export: Type.String({ minLength: 1, maxLength: 256 }),
  /** Warm instances kept (the concurrency of this function on this proplet). */
  instances: Type.Integer({ minimum: 1, maximum: 64 }),
  memoryBytes: Type.Integer({ minimum: 65536 }),
});
export type FunctionDeploy = Static<typeof FunctionDeploy>;

export const FunctionStatus = message("function.status", {
  propletId: PropletId,
  functionId: Id,
  generation: Type.Integer({ minimum: 1 }),
  state: Type.Union([Type.Literal("ready"), Type.Literal("failed")]),
  error: Type.Union([RunError, Type.Null()]),
});
export type FunctionStatus = Static<typeof FunctionStatus>;

export const FunctionInvoke = message("function.invoke", {
  propletId: PropletId,
  functionId: Id,
  invocationId: Id,
  inputs: Type.Array(WasmValue, { maxItems: 64 }),
  /** The call is abandoned (its instance replaced) this long after the proplet received it. */
  deadlineMs: Type.Integer({ minimum: 1, maximum: 300_000 }),
});
export type FunctionInvoke = Static<typeof FunctionInvoke>;

export const FunctionReply = message("function.reply", {
  propletId: PropletId,
  functionId: Id,
  invocationId: Id,
  outcome: Type.Union([Type.Literal("completed"), Type.Literal("failed")]),
  returnValues: Type.Union([Type.Array(WasmValue, { maxItems: 64 }), Type.Null()]),
  error: Type.Union([RunError, Type.Null()]),
  /** Time spent on the proplet, queueing for an instance included. */
  durationMs: Type.Number({ minimum: 0 }),
});
export type FunctionReply = Static<typeof FunctionReply>;
