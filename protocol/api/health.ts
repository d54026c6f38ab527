/** GET /health: the one route that needs no credential. */
import { Type, type Static } from "@sinclair/typebox";

export const Health = Type.Object({
  status: Type.Union([Type.Literal("ok"), Type.Literal("degraded")]),
  database: Type.Union([Type.Literal("ok"), Type.Literal("unavailable")]),
  mqtt: Type.Union([Type.Literal("ok"), Type.Literal("disconnected")]),
  counters: Type.Record(Type.String(), Type.Integer()),
});
export type Health = Static<typeof Health>;
