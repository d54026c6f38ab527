/**
 * The aggregator's side of a SecAgg round. It relays sealed shares it cannot open, sums masked
 * inputs, and with threshold-many unmask answers removes the masks: it learns the sum of the
 * survivors' weighted updates and their total weight, never one participant's update.
 * Messages are taken one by one (from MQTT, say); each `close…` ends a phase with whoever made it.
 */
import { createHash } from "node:crypto";
import { combine } from "shamir-secret-sharing";
import { SecAggError } from "./errors.js";
import { agree, expandMask, importPrivate } from "./crypto.js";
import { addLanes, dequantizeSum, subtractLanes } from "./quantize.js";
import { checkParams, type SecAggParams } from "./params.js";
import { SecAggAdvertise, SecAggMaskedInput, SecAggShareKeys, SecAggUnmask, decodeLanes, type SecAggSharesFor, type SecAggUnmaskRequest } from "./messages.js";
import { SHARE_BYTES } from "./participant.js";
import { validate } from "../codec.js";

type Phase = "advertise" | "share" | "mask" | "unmask" | "done";

export interface SecAggResult {
  /** Σ weight·x over the survivors (fixed-point, so within n·2^−(f+1) of the exact sum per lane). */
  weightedSum: Float64Array;
  /** Σ weight over the survivors. */
  weight: number;
  /** FedAvg: weightedSum / weight. */
  mean: Float64Array;
  /** Whose inputs are in the sum (U3), in order. */
  survivors: string[];
  /** Who advertised but whose input is not in the sum, in order. */
  dropped: string[];
}

export class SecAggAggregator {
  private phase: Phase = "advertise";
  private readonly adverts = new Map<string, SecAggAdvertise>();
  private readonly shareKeys = new Map<string, SecAggShareKeys>();
  private readonly masked = new Map<string, Uint32Array>();
  private readonly unmasks = new Map<string, SecAggUnmask>();
  private roster: string[] = [];
  private u2: string[] = [];
  private u3: string[] = [];

  /** `participants`: who may take part (anyone else is refused). */
  constructor(
    readonly params: SecAggParams,
    participants: readonly string[],
  ) {
    this.allowed = new Set(participants);
    checkParams(params, this.allowed.size);
  }
  private readonly allowed: Set<string>;

  addAdvertise(msg: SecAggAdvertise): void {
    validate(SecAggAdvertise, msg, "secagg message");
    this.expect("advertise", msg.round, msg.from, this.allowed, this.adverts);
    this.adverts.set(msg.from, msg);
  }

  /** Ends round 0: the roster every participant shares keys with. */
  closeAdvertise(): SecAggAdvertise[] {
    this.close("advertise", "share", this.adverts.size, "advertised keys");
    this.roster = [...this.adverts.keys()].sort();
    checkParams(this.params, this.roster.length);
    return this.roster.map((id) => this.adverts.get(id)!);
  }

  addShareKeys(msg: SecAggShareKeys): void {
    validate(SecAggShareKeys, msg, "secagg message");
    this.expect("share", msg.round, msg.from, new Set(this.roster), this.shareKeys);
    const to = msg.shares.map((s) => s.to).sort();
    if (to.length !== this.roster.length || to.some((id, i) => id !== this.roster[i])) throw this.bad(msg.from, "its shares must be addressed to every member of the roster, once each");
    this.shareKeys.set(msg.from, msg);
  }

  /** Ends round 1: for each who shared (U2), the sealed shares addressed to it. */
  closeShareKeys(): SecAggSharesFor[] {
    this.close("share", "mask", this.shareKeys.size, "shared keys");
    this.u2 = [...this.shareKeys.keys()].sort();
    return this.u2.map((to) => ({
      round: this.params.roundId,
      to,
      shares: this.u2.map((from) => ({ from, sealed: this.shareKeys.get(from)!.shares.find((s) => s.to === to)!.sealed })),
    }));
  }

  addMaskedInput(msg: SecAggMaskedInput): void {
    validate(SecAggMaskedInput, msg, "secagg message");
    this.expect("mask", msg.round, msg.from, new Set(this.u2), this.masked);
    const lanes = decodeLanes(msg.lanes, this.params.length + 1);
    if (!lanes) throw this.bad(msg.from, `its masked input must be ${this.params.length + 1} little-endian 32-bit lanes`);
    this.masked.set(msg.from, lanes);
  }

  /** Ends round 2: the survivors (U3) whose inputs will be in the sum. */
  closeMaskedInput(): SecAggUnmaskRequest {
    this.close("mask", "unmask", this.masked.size, "sent masked inputs");
    this.u3 = [...this.masked.keys()].sort();
    return { round: this.params.roundId, survivors: this.u3 };
  }

  addUnmask(msg: SecAggUnmask): void {
    validate(SecAggUnmask, msg, "secagg message");
    this.expect("unmask", msg.round, msg.from, new Set(this.u3), this.unmasks);
    const of = (list: Array<{ of: string }>) => list.map((s) => s.of).sort().join("\0");
    const dropped = this.u2.filter((v) => !this.masked.has(v));
    if (of(msg.selfMaskShares) !== this.u3.join("\0")) throw this.bad(msg.from, "its self-mask shares must cover exactly the survivors");
    if (of(msg.maskKeyShares) !== dropped.join("\0")) throw this.bad(msg.from, "its mask-key shares must cover exactly the dropouts");
    for (const s of [...msg.selfMaskShares, ...msg.maskKeyShares]) {
      if (Buffer.from(s.share, "base64url").length !== SHARE_BYTES) throw this.bad(msg.from, `its share of ${s.of} is not ${SHARE_BYTES} bytes`);
    }
    this.unmasks.set(msg.from, msg);
  }

  /** Ends round 3: removes every mask and returns the sum. Needs threshold-many unmask answers. */
  async finish(): Promise<SecAggResult> {
    this.close("unmask", "done", this.unmasks.size, "answered the unmask request");
    const answers = [...this.unmasks.values()];
    const shareOf = (v: string, pick: (a: SecAggUnmask) => Array<{ of: string; share: string }>) =>
      answers.map((a) => new Uint8Array(Buffer.from(pick(a).find((s) => s.of === v)!.share, "base64url")));

    const sum = new Uint32Array(this.params.length + 1);
    for (const u of this.u3) addLanes(sum, this.masked.get(u)!);
    for (const u of this.u3) {
      const seed = await combine(shareOf(u, (a) => a.selfMaskShares));
      if (createHash("sha256").update(seed).digest("base64url") !== this.shareKeys.get(u)!.selfMaskCommit) {
        throw new SecAggError("secagg_reconstruction_failed", `the self-mask seed of ${u} rebuilt from the shares does not match its commitment: a share was altered`, { roundId: this.params.roundId });
      }
      subtractLanes(sum, expandMask(seed, sum.length));
    }
    const dropped = this.u2.filter((v) => !this.masked.has(v));
    for (const v of dropped) {
      const maskKey = importPrivate(await combine(shareOf(v, (a) => a.maskKeyShares)), this.adverts.get(v)!.maskKey);
      for (const u of this.u3) {
        const mask = expandMask(agree(maskKey, this.adverts.get(u)!.maskKey, this.params.roundId, "mask", v, u), sum.length);
        // u added the pair's mask when u < v, subtracted it otherwise; v's half never came.
        (u < v ? subtractLanes : addLanes)(sum, mask);
      }
    }
    const { weightedSum, weight } = dequantizeSum(this.params, sum);
    return {
      weightedSum,
      weight,
      mean: weightedSum.map((x) => x / weight),
      survivors: [...this.u3],
      dropped: this.roster.filter((id) => !this.masked.has(id)),
    };
  }

  private expect(phase: Phase, round: string, from: string, members: Set<string>, seen: Map<string, unknown>): void {
    if (this.phase !== phase) throw new SecAggError("secagg_wrong_phase", `a ${phase} message from ${from} came during ${this.phase}`, { roundId: this.params.roundId });
    if (round !== this.params.roundId) throw this.bad(from, `its message is for round ${round}`);
    if (!members.has(from)) throw this.bad(from, `it is not a participant of this phase`);
    if (seen.has(from)) throw this.bad(from, "it already sent this phase's message");
  }

  private close(phase: Phase, next: Phase, count: number, did: string): void {
    if (this.phase !== phase) throw new SecAggError("secagg_wrong_phase", `cannot close ${phase} during ${this.phase}`, { roundId: this.params.roundId });
    if (count < this.params.threshold) {
      throw new SecAggError("secagg_too_few", `only ${count} participants ${did}; round ${this.params.roundId} needs ${this.params.threshold} and cannot finish`, { roundId: this.params.roundId });
    }
    this.phase = next;
  }

  private bad(from: string, why: string): SecAggError {
    return new SecAggError("secagg_bad_message", `refused ${from}: ${why}`, { roundId: this.params.roundId });
  }
}
