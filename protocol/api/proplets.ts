/** Proplets: the workers the manager has seen, their capabilities and load. */
import { Type, type Static } from "@sinclair/typebox";
import { PropletId } from "../messages/common.js";
import { Capabilities } from "../messages/proplet.js";
import { Time } from "./common.js";

export const Proplet = Type.Object({
  id: Type.String(),
  name: Type.String(),
  alive: Type.Boolean(),
  capabilities: Capabilities,
  running: Type.Integer(),
  lastSeenAt: Time,
  connectedAt: Time,
});
export type Proplet = Static<typeof Proplet>;
export const PropletList = Type.Object({ items: Type.Array(Proplet) });
export type PropletList = Static<typeof PropletList>;
export const PropletParams = Type.Object({ id: PropletId });
export type PropletParams = Static<typeof PropletParams>;

/** One change of a proplet's liveness: it came online (announced), or went gone (and why). */
export const PropletLivenessEvent = Type.Object({
  event: Type.Union([Type.Literal("online"), Type.Literal("gone")]),
  reason: Type.Union([Type.String(), Type.Null()]),
  at: Time,
});
export type PropletLivenessEvent = Static<typeof PropletLivenessEvent>;
/** GET /proplets/{id}/liveness: newest first, the last 50 kept. */
export const PropletLiveness = Type.Object({ items: Type.Array(PropletLivenessEvent) });
export type PropletLiveness = Static<typeof PropletLiveness>;
