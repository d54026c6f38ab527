/**
 * Secure aggregation in federated rounds (docs/secure-aggregation.md, "In rounds"): the manager,
 * as the SecAgg aggregator, drives each participant through the four steps on the participant's own
 * topics. `secagg/request` (manager → proplet) carries one step's input, `secagg/reply`
 * (proplet → manager) its answer, or why the proplet refused it. Every message names a `session`:
 * the SecAgg round id (experiment, round and a fresh nonce), to which every key, share and mask is
 * bound, so a message of an earlier round never fits a later one.
 */
import { Type, type Static } from "@sinclair/typebox";
import { LIMITS } from "../limits.js";
import { SecAggAdvertise, SecAggMaskedInput, SecAggShareKeys, SecAggSharesFor, SecAggUnmask, SecAggUnmaskRequest } from "../secagg/messages.js";
import { DigestString, Id, PropletId, message } from "./common.js";

export const SecAggSession = Type.String({ minLength: 1, maxLength: 256, pattern: "^[A-Za-z0-9][A-Za-z0-9._:/-]*$" });

/** The fixed-point parameters of the session (protocol/secagg/params.ts, less the round id: it is `session`). */
export const SecAggWireParams = Type.Object(
  {
    threshold: Type.Integer({ minimum: 2, maximum: LIMITS.flMaxParticipants }),
    length: Type.Integer({ minimum: 1, maximum: LIMITS.flMaxParams }),
    clip: Type.Number({ exclusiveMinimum: 0, maximum: 1e6 }),
    maxWeight: Type.Integer({ minimum: 1, maximum: 2 ** 31 }),
    fractionBits: Type.Integer({ minimum: 0, maximum: 30 }),
  },
  { additionalProperties: false },
);
export type SecAggWireParams = Static<typeof SecAggWireParams>;

/** A masked input no larger than the largest model (one lane per parameter, plus the weight). */
const MaskedInput = Type.Object(
  { ...SecAggMaskedInput.properties, lanes: Type.String({ maxLength: Math.ceil(((LIMITS.flMaxParams + 1) * 4 * 4) / 3), pattern: "^[A-Za-z0-9_-]+$" }) },
  { additionalProperties: false },
);

export const SecAggRequest = message("secagg.request", {
  propletId: PropletId,
  session: SecAggSession,
  step: Type.Union([
    /** Step 0: mask the output held for `runId`, checked as this round's update; advertise keys. */
    Type.Object(
      {
        kind: Type.Literal("advertise"),
        runId: Id,
        params: SecAggWireParams,
        expect: Type.Object(
          { round: Type.Integer({ minimum: 1, maximum: LIMITS.flMaxRounds }), baseModel: DigestString, shape: Type.Array(Type.Integer({ minimum: 1, maximum: LIMITS.flMaxParams }), { minItems: 1, maxItems: 4 }) },
          { additionalProperties: false },
        ),
      },
      { additionalProperties: false },
    ),
    Type.Object({ kind: Type.Literal("share"), roster: Type.Array(SecAggAdvertise, { maxItems: LIMITS.flMaxParticipants }) }, { additionalProperties: false }),
    Type.Object({ kind: Type.Literal("mask"), shares: SecAggSharesFor }, { additionalProperties: false }),
    Type.Object({ kind: Type.Literal("unmask"), request: SecAggUnmaskRequest }, { additionalProperties: false }),
  ]),
});
export type SecAggRequest = Static<typeof SecAggRequest>;

export const SecAggReply = message("secagg.reply", {
  propletId: PropletId,
  session: SecAggSession,
  step: Type.Union([
    Type.Object({ kind: Type.Literal("advertise"), advertise: SecAggAdvertise }, { additionalProperties: false }),
    Type.Object({ kind: Type.Literal("share"), shareKeys: SecAggShareKeys }, { additionalProperties: false }),
    Type.Object({ kind: Type.Literal("mask"), masked: MaskedInput }, { additionalProperties: false }),
    Type.Object({ kind: Type.Literal("unmask"), unmask: SecAggUnmask }, { additionalProperties: false }),
    /** The proplet will not take this step (no held output, a bad update, a message out of order). */
    Type.Object({ kind: Type.Literal("refused"), of: Type.Union([Type.Literal("advertise"), Type.Literal("share"), Type.Literal("mask"), Type.Literal("unmask")]), reason: Type.String({ maxLength: 1024 }) }, { additionalProperties: false }),
  ]),
});
export type SecAggReply = Static<typeof SecAggReply>;
export type SecAggStepKind = "advertise" | "share" | "mask" | "unmask";
