/** Runs: one attempt of a task on one proplet, with its result and receipt check. */
import { Type, type Static } from "@sinclair/typebox";
import { Id } from "../messages/common.js";
import { CodedError, Time, TimeOrNull, WasmValueOut } from "./common.js";
import { ReceiptCheck } from "./receipts.js";
import { InclusionBundle } from "../tlog/bundle.js";

export const RunResult = Type.Object({
  exitCode: Type.Union([Type.Integer(), Type.Null()]),
  returnValues: Type.Union([Type.Array(WasmValueOut), Type.Null()]),
  /** A component export's result as WAVE text. */
  returnWave: Type.Optional(Type.String()),
  stdout: Type.String(),
  stderr: Type.String(),
  stdoutBase64: Type.String(),
  stderrBase64: Type.String(),
  stdoutTruncated: Type.Boolean(),
  stderrTruncated: Type.Boolean(),
  error: Type.Union([CodedError, Type.Null()]),
});
export type RunResult = Static<typeof RunResult>;

export const RUN_STATE_VALUES = ["queued", "scheduled", "running", "completed", "failed", "stopped"] as const;
export const RunState = Type.Union(RUN_STATE_VALUES.map((s) => Type.Literal(s)));
export type RunState = Static<typeof RunState>;

export const Run = Type.Object({
  id: Type.String(),
  taskId: Type.String(),
  attempt: Type.Integer(),
  state: RunState,
  propletId: Type.Union([Type.String(), Type.Null()]),
  deliveries: Type.Integer(),
  createdAt: Time,
  dispatchedAt: TimeOrNull,
  acceptedAt: TimeOrNull,
  startedAt: TimeOrNull,
  finishedAt: TimeOrNull,
  result: Type.Union([RunResult, Type.Null()]),
  /** The proplet's signed receipt (compact JWS), when it sent one. */
  receipt: Type.Union([Type.String(), Type.Null()]),
  /** A running daemon's URL (wasi-http), as its proplet reported it. */
  endpoint: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  /** The manager's check of that receipt: a run is completed only when it passed. */
  receiptCheck: Type.Union([ReceiptCheck, Type.Null()]),
  /**
   * Where the receipt stands in the transparency log (GET /log/proof/inclusion?runId= proves it),
   * once appended; on the run routes (GET …/runs, …/runs/{runId}, …/results) only.
   */
  logIndex: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.Null()])),
  /**
   * The receipt's inclusion proof against the log's latest checkpoint (the bundle of
   * GET /log/proof/inclusion, signed checkpoint included), once a checkpoint covers it; on
   * GET …/runs/{runId} and …/results only. Save it and check it later: `propeller log verify-proof`.
   */
  logProof: Type.Optional(Type.Union([InclusionBundle, Type.Null()])),
});
export type Run = Static<typeof Run>;

export const RunList = Type.Object({ items: Type.Array(Run) });
export type RunList = Static<typeof RunList>;
export const RunParams = Type.Object({ id: Id, runId: Id });
export type RunParams = Static<typeof RunParams>;
