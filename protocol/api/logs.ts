/**
 * A run's live output (GET /tasks/{id}/runs/{runId}/logs): the stdout/stderr chunks its proplet
 * streamed while it ran, in `seq` order. With `follow=true` the reply is Server-Sent Events: one
 * `log` event per chunk (its `id` is the seq, so a reconnect sends `Last-Event-ID` and misses
 * nothing), then one `end` event with the run's final state.
 */
import { Type, type Static } from "@sinclair/typebox";
import { RunState } from "./runs.js";
import { Time } from "./common.js";
import { LIMITS } from "../limits.js";

export const LogChunk = Type.Object({
  seq: Type.Integer({ minimum: 1 }),
  stream: Type.Union([Type.Literal("stdout"), Type.Literal("stderr")]),
  /** The bytes, base64 (output need not be UTF-8). */
  data: Type.String(),
  at: Time,
});
export type LogChunk = Static<typeof LogChunk>;

export const LogList = Type.Object({
  items: Type.Array(LogChunk),
  /** The run's state when the list was read; a terminal state means no more chunks will come. */
  state: RunState,
});
export type LogList = Static<typeof LogList>;

/** The `end` event's data. */
export const LogEnd = Type.Object({ state: RunState });
export type LogEnd = Static<typeof LogEnd>;

/** Largest seq accepted (a PostgreSQL INTEGER). */
export const LOG_SEQ_MAX = 2_147_483_647;

export const LogQuery = Type.Object(
  {
    follow: Type.Optional(Type.Boolean({ description: "stream as text/event-stream until the run ends" })),
    after: Type.Optional(Type.Integer({ minimum: 0, maximum: LOG_SEQ_MAX, description: "only chunks with a greater seq" })),
  },
  { additionalProperties: false },
);
export type LogQuery = Static<typeof LogQuery>;

/** Chunks returned by one non-following read, and replayed at the start of a follow. */
export const LOG_PAGE_MAX = 1000;
/** Live output kept per run: both streams at their largest cap (beyond it the result is the record). */
export const LOG_BYTES_PER_RUN_MAX = 2 * LIMITS.maxOutputBytes;
