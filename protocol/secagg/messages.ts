/**
 * The four rounds of SecAgg (Bonawitz et al., CCS 2017) as messages, each bound to a round id:
 * participants advertise two X25519 keys, send each other (through the aggregator, sealed)
 * Shamir shares of their mask key and self-mask seed, send their masked input, and finally
 * reveal the shares the aggregator needs to remove the masks of survivors and dropouts.
 */
import { Type, type Static } from "@sinclair/typebox";
import { SECAGG_MAX_LENGTH, SECAGG_MAX_PARTICIPANTS } from "./params.js";

const ParticipantId = Type.String({ minLength: 1, maxLength: 128 });
const RoundId = Type.String({ minLength: 1, maxLength: 256 });
/** Raw 32-byte X25519 public key, base64url. */
const PublicKey = Type.String({ pattern: "^[A-Za-z0-9_-]{43}$" });
/** A Shamir share of a 32-byte secret: 33 bytes, base64url. */
const Share = Type.String({ pattern: "^[A-Za-z0-9_-]{44}$" });
/** iv ‖ AES-GCM(ciphertext of two shares) ‖ tag, base64url. */
const Sealed = Type.String({ minLength: 16, maxLength: 256, pattern: "^[A-Za-z0-9_-]+$" });
const Participants = <T extends Parameters<typeof Type.Array>[0]>(item: T) => Type.Array(item, { maxItems: SECAGG_MAX_PARTICIPANTS });

export const SecAggAdvertise = Type.Object(
  { round: RoundId, from: ParticipantId, channelKey: PublicKey, maskKey: PublicKey },
  { additionalProperties: false },
);
export type SecAggAdvertise = Static<typeof SecAggAdvertise>;

export const SecAggShareKeys = Type.Object(
  {
    round: RoundId,
    from: ParticipantId,
    /** SHA-256 of the self-mask seed, so a rebuilt seed can be checked. */
    selfMaskCommit: Type.String({ pattern: "^[A-Za-z0-9_-]{43}$" }),
    shares: Participants(Type.Object({ to: ParticipantId, sealed: Sealed }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);
export type SecAggShareKeys = Static<typeof SecAggShareKeys>;

/** Aggregator → one participant: the sealed shares others addressed to it (their senders are U2). */
export const SecAggSharesFor = Type.Object(
  { round: RoundId, to: ParticipantId, shares: Participants(Type.Object({ from: ParticipantId, sealed: Sealed }, { additionalProperties: false })) },
  { additionalProperties: false },
);
export type SecAggSharesFor = Static<typeof SecAggSharesFor>;

export const SecAggMaskedInput = Type.Object(
  {
    round: RoundId,
    from: ParticipantId,
    /** length + 1 little-endian Uint32 lanes (the last one the masked weight), base64url. */
    lanes: Type.String({ maxLength: Math.ceil(((SECAGG_MAX_LENGTH + 1) * 4 * 4) / 3), pattern: "^[A-Za-z0-9_-]+$" }),
  },
  { additionalProperties: false },
);
export type SecAggMaskedInput = Static<typeof SecAggMaskedInput>;

/** Aggregator → participants: who sent a masked input (U3). */
export const SecAggUnmaskRequest = Type.Object({ round: RoundId, survivors: Participants(ParticipantId) }, { additionalProperties: false });
export type SecAggUnmaskRequest = Static<typeof SecAggUnmaskRequest>;

export const SecAggUnmask = Type.Object(
  {
    round: RoundId,
    from: ParticipantId,
    /** Shares of survivors' self-mask seeds. */
    selfMaskShares: Participants(Type.Object({ of: ParticipantId, share: Share }, { additionalProperties: false })),
    /** Shares of dropouts' mask keys (never of a survivor's: that would unmask it). */
    maskKeyShares: Participants(Type.Object({ of: ParticipantId, share: Share }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);
export type SecAggUnmask = Static<typeof SecAggUnmask>;

export function encodeLanes(lanes: Uint32Array): string {
  const bytes = Buffer.alloc(lanes.length * 4);
  for (let i = 0; i < lanes.length; i++) bytes.writeUInt32LE(lanes[i]!, i * 4);
  return bytes.toString("base64url");
}

/** The lanes of a masked input, or null when it does not hold exactly `count` of them. */
export function decodeLanes(text: string, count: number): Uint32Array | null {
  const bytes = Buffer.from(text, "base64url");
  if (bytes.length !== count * 4 || bytes.toString("base64url") !== text) return null;
  const lanes = new Uint32Array(count);
  for (let i = 0; i < count; i++) lanes[i] = bytes.readUInt32LE(i * 4);
  return lanes;
}
