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
