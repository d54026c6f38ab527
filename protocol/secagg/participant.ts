/**
 * One participant of a SecAgg round. It keeps its secrets to itself: the aggregator sees its public
 * keys, sealed shares it cannot open, and its update under masks that only cancel in the sum.
 * Each step runs once and in order; every message it takes is checked against the round.
 */
import { createHash, randomBytes } from "node:crypto";
import { split } from "shamir-secret-sharing";
import { SecAggError } from "./errors.js";
import { agree, exportPrivate, expandMask, generateX25519, open, seal, type X25519Pair } from "./crypto.js";
import { addLanes, quantize, subtractLanes } from "./quantize.js";
import { checkParams, type SecAggParams } from "./params.js";
import { encodeLanes, type SecAggAdvertise, type SecAggMaskedInput, type SecAggShareKeys, type SecAggSharesFor, type SecAggUnmask, type SecAggUnmaskRequest } from "./messages.js";

/** A Shamir share of a 32-byte secret is the 32 bytes and its x coordinate. */
export const SHARE_BYTES = 33;

type Phase = "new" | "advertised" | "shared" | "masked" | "unmasked";

/** AAD of a sealed share: the round and both ends, in direction. */
export const shareAad = (round: string, from: string, to: string) => `${round}\0${from}\0${to}`;

export class SecAggParticipant {
  private phase: Phase = "new";
  private readonly channel: X25519Pair = generateX25519();
  private readonly mask: X25519Pair = generateX25519();
  // Plain Uint8Arrays: shamir-secret-sharing checks the exact constructor, and refuses a Buffer.
  private readonly selfSeed = new Uint8Array(randomBytes(32));
  private roster = new Map<string, SecAggAdvertise>();
  private shareSenders: string[] = [];
  /** Shares others gave me: sender → (its mask-key share, its self-seed share). */
  private readonly held = new Map<string, { maskKey: Uint8Array; selfSeed: Uint8Array }>();

  constructor(
    readonly id: string,
    readonly params: SecAggParams,
  ) {}

  advertise(): SecAggAdvertise {
    this.step("new", "advertised");
    return { round: this.params.roundId, from: this.id, channelKey: this.channel.publicKey, maskKey: this.mask.publicKey };
  }

  /** Round 1: shares of my mask key and self seed, one sealed to each member of the roster. */
  async shareKeys(roster: readonly SecAggAdvertise[]): Promise<SecAggShareKeys> {
    this.step("advertised", "shared");
    const byId = new Map<string, SecAggAdvertise>();
    for (const a of roster) {
      this.sameRound(a.round);
      if (byId.has(a.from)) throw this.bad(`the roster names ${a.from} twice`);
      byId.set(a.from, a);
    }
    const me = byId.get(this.id);
    if (!me || me.channelKey !== this.channel.publicKey || me.maskKey !== this.mask.publicKey) throw this.bad("the roster does not carry this participant's own keys");
    checkParams(this.params, byId.size);
    this.roster = byId;
    const ids = [...byId.keys()].sort();
    const maskKeyShares = await split(exportPrivate(this.mask.privateKey), ids.length, this.params.threshold);
    const seedShares = await split(this.selfSeed, ids.length, this.params.threshold);
    return {
      round: this.params.roundId,
      from: this.id,
      selfMaskCommit: createHash("sha256").update(this.selfSeed).digest("base64url"),
      shares: ids.map((to, i) => {
        const key = agree(this.channel.privateKey, byId.get(to)!.channelKey, this.params.roundId, "shares", this.id, to);
        return { to, sealed: seal(key, Buffer.concat([maskKeyShares[i]!, seedShares[i]!]), shareAad(this.params.roundId, this.id, to)) };
      }),
    };
  }

  /** Round 2: opens the shares addressed to me, and masks my update for everyone who shared. */
  maskedInput(incoming: SecAggSharesFor, vector: ArrayLike<number>, weight: number): SecAggMaskedInput {
    this.step("shared", "masked");
    this.sameRound(incoming.round);
    if (incoming.to !== this.id) throw this.bad(`these shares are for ${incoming.to}`);
    for (const { from, sealed } of incoming.shares) {
      const sender = this.roster.get(from);
      if (!sender) throw this.bad(`a share comes from ${from}, who is not in the roster`);
      if (this.held.has(from)) throw this.bad(`two shares come from ${from}`);
      const key = agree(this.channel.privateKey, sender.channelKey, this.params.roundId, "shares", from, this.id);
      const plain = open(key, sealed, shareAad(this.params.roundId, from, this.id));
      if (plain.length !== 2 * SHARE_BYTES) throw this.bad(`the share from ${from} has ${plain.length} bytes`);
      this.held.set(from, { maskKey: new Uint8Array(plain.subarray(0, SHARE_BYTES)), selfSeed: new Uint8Array(plain.subarray(SHARE_BYTES)) });
    }
    if (!this.held.has(this.id)) throw this.bad("the shares do not include this participant's own");
    if (this.held.size < this.params.threshold) throw new SecAggError("secagg_too_few", `only ${this.held.size} participants shared keys; this round needs ${this.params.threshold}`);
    this.shareSenders = [...this.held.keys()].sort();

    const lanes = quantize(this.params, vector, weight);
    addLanes(lanes, expandMask(this.selfSeed, lanes.length));
    for (const v of this.shareSenders) {
      if (v === this.id) continue;
      const seed = agree(this.mask.privateKey, this.roster.get(v)!.maskKey, this.params.roundId, "mask", this.id, v);
      // The lower id adds the pair's mask and the higher one subtracts it: the pair cancels in the sum.
      (this.id < v ? addLanes : subtractLanes)(lanes, expandMask(seed, lanes.length));
    }
    return { round: this.params.roundId, from: this.id, lanes: encodeLanes(lanes) };
  }

  /**
   * Round 3: self-seed shares of the survivors, mask-key shares of those who dropped after sharing.
   * Never both for one participant: that would let the aggregator unmask its input alone.
   */
  unmask(request: SecAggUnmaskRequest): SecAggUnmask {
    this.step("masked", "unmasked");
    this.sameRound(request.round);
    const survivors = new Set(request.survivors);
    if (survivors.size !== request.survivors.length) throw this.bad("the survivor list names someone twice");
    for (const s of survivors) if (!this.held.has(s)) throw this.bad(`survivor ${s} never shared keys in this round`);
    if (!survivors.has(this.id)) throw this.bad("this participant is not among the survivors it is asked to unmask");
    if (survivors.size < this.params.threshold) throw new SecAggError("secagg_too_few", `only ${survivors.size} participants sent masked inputs; this round needs ${this.params.threshold}`);
    const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");
    return {
      round: this.params.roundId,
      from: this.id,
      selfMaskShares: this.shareSenders.filter((v) => survivors.has(v)).map((of) => ({ of, share: b64(this.held.get(of)!.selfSeed) })),
      maskKeyShares: this.shareSenders.filter((v) => !survivors.has(v)).map((of) => ({ of, share: b64(this.held.get(of)!.maskKey) })),
    };
  }

  /** The phase moves before the step's checks: a refused step ends this participant's round (a retry with other inputs could leak). */
  private step(from: Phase, to: Phase): void {
    if (this.phase !== from) throw new SecAggError("secagg_wrong_phase", `participant ${this.id} is past ${from} (at ${this.phase}); each step runs once, in order`);
    this.phase = to;
  }

  private sameRound(round: string): void {
    if (round !== this.params.roundId) throw this.bad(`a message of round ${round} reached round ${this.params.roundId}`);
  }

  private bad(why: string): SecAggError {
    return new SecAggError("secagg_bad_message", `participant ${this.id}: ${why}`, { roundId: this.params.roundId });
  }
}
