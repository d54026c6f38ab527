/**
 * One round's secure aggregation, with the manager as the SecAgg aggregator (protocol/secagg): the
 * four steps (advertise keys → share keys → masked input → unmasking), each sent to the members of
 * the step on their `secagg/request` topics and closed when every member answered or the step's
 * timeout passed. Whoever does not answer, or refuses, has left: the aggregator goes on while at
 * least `threshold` are left, and rebuilds the masks of those who left after sharing keys. The
 * outcome is the sum of the survivors' weighted updates and their total weight, never one update.
 *
 * Every message that does not fit (wrong step, non-participant, repeat, bad content) is refused and
 * kept with its reason (`refusals`), so the round records it.
 */
import { messageOf } from "../../lib/errors.js";
import type { SecAggReply, SecAggRequest, SecAggStepKind, SecAggWireParams } from "../../protocol/index.js";
import { SecAggAggregator, type SecAggParams, type SecAggResult } from "../../protocol/secagg/index.js";

/** Refusals kept per session (the rest are counted in the last one). */
const MAX_REFUSALS = 100;

export interface SessionMember {
  propletId: string;
  runId: string;
}

export interface SessionInput {
  params: SecAggParams;
  members: SessionMember[];
  expect: { round: number; baseModel: string; shape: number[] };
  stepTimeoutMs: number;
}

export interface Departure {
  propletId: string;
  /** rejected: it refused a step (a bad update, a bad message); missing: it did not answer in time. */
  state: "rejected" | "missing";
  reason: string;
}

export type SessionOutcome = { ok: true; result: SecAggResult } | { ok: false; reason: string };

type Send = (propletId: string, step: SecAggRequest["step"]) => Promise<void>;

export class SecAggSession {
  readonly refusals: Array<{ from: string; reason: string; at: string }> = [];
  readonly departures = new Map<string, Departure>();
  private readonly aggregator: SecAggAggregator;
  private readonly members: Map<string, SessionMember>;
  private readonly seenMessages = new Set<string>();
  private phase: SecAggStepKind | "done" = "advertise";
  private waiting = new Set<string>();
  private wake: (() => void) | undefined;
  private refusedCount = 0;

  constructor(
    readonly input: SessionInput,
    private readonly send: Send,
    private readonly now: () => Date,
    private readonly onRefusal: (from: string, reason: string) => void,
  ) {
    this.members = new Map(input.members.map((m) => [m.propletId, m]));
    this.aggregator = new SecAggAggregator(input.params, [...this.members.keys()]);
  }

  get id(): string {
    return this.input.params.roundId;
  }

  includes(propletId: string): boolean {
    return this.members.has(propletId);
  }

  /** Runs the four steps to the sum, or to the reason the round cannot have one. */
  async run(): Promise<SessionOutcome> {
    const { params, expect } = this.input;
    try {
      await this.step("advertise", [...this.members.keys()], (id) => ({ kind: "advertise", runId: this.members.get(id)!.runId, params: wireParams(params), expect }));
      const roster = this.aggregator.closeAdvertise();
      await this.step("share", roster.map((a) => a.from), () => ({ kind: "share", roster }));
      const sharesFor = this.aggregator.closeShareKeys();
      await this.step("mask", sharesFor.map((s) => s.to), (id) => ({ kind: "mask", shares: sharesFor.find((s) => s.to === id)! }));
      const request = this.aggregator.closeMaskedInput();
      await this.step("unmask", request.survivors, () => ({ kind: "unmask", request }));
      const result = await this.aggregator.finish();
      return { ok: true, result };
    } catch (err) {
      return { ok: false, reason: messageOf(err) };
    } finally {
      this.phase = "done";
      this.wake?.();
    }
  }

  /** A validated reply from `from` on its own topic. */
  onReply(from: string, msg: SecAggReply): void {
    if (!this.members.has(from)) return this.refuse(from, `${from} is not a participant of secure aggregation session ${this.id}`);
    if (this.seenMessages.has(msg.messageId)) return this.refuse(from, `message ${msg.messageId} was already received: a repeat or a replay`);
    if (this.seenMessages.size < 10_000) this.seenMessages.add(msg.messageId);
    const step = msg.step;
    if (step.kind === "refused") {
      if (step.of !== this.phase || !this.waiting.has(from)) return this.refuse(from, `a refusal of the ${step.of} step came during ${this.phase}`);
      this.leave(from, "rejected", `refused the ${step.of} step: ${step.reason}`);
      return;
    }
    if (step.kind !== this.phase) return this.refuse(from, `a ${step.kind} message came during the ${this.phase} step (late, out of order, or replayed)`);
    const inner = step.kind === "advertise" ? step.advertise : step.kind === "share" ? step.shareKeys : step.kind === "mask" ? step.masked : step.unmask;
    // The broker vouches for the topic's proplet id; the message inside must be that proplet's own.
    if (inner.from !== from) return this.refuse(from, `its ${step.kind} message claims to be from ${inner.from}`);
    try {
      if (step.kind === "advertise") this.aggregator.addAdvertise(step.advertise);
      else if (step.kind === "share") this.aggregator.addShareKeys(step.shareKeys);
      else if (step.kind === "mask") this.aggregator.addMaskedInput(step.masked);
      else this.aggregator.addUnmask(step.unmask);
    } catch (err) {
      return this.refuse(from, messageOf(err));
    }
    this.waiting.delete(from);
    if (this.waiting.size === 0) this.wake?.();
  }

  /** A message on a member's reply topic that did not decode (malformed, oversized). */
  onMalformed(from: string, reason: string): void {
    this.refuse(from, `malformed secure-aggregation message: ${reason}`);
  }

  /** Something for this session's participant that belongs to no live session (an earlier round's, say). */
  onForeign(from: string, session: string): void {
    this.refuse(from, `a message of session ${session}, not of this round's session ${this.id}: replayed from an earlier round, or late`);
  }

  /** Ends the session at once (the manager is closing). */
  abort(): void {
    this.phase = "done";
    this.wake?.();
  }

  private refuse(from: string, reason: string): void {
    this.refusedCount++;
    if (this.refusals.length < MAX_REFUSALS) this.refusals.push({ from, reason: reason.slice(0, 1000), at: this.now().toISOString() });
    else this.refusals[MAX_REFUSALS - 1] = { from: "*", reason: `${this.refusedCount - MAX_REFUSALS + 1} more refusals`, at: this.now().toISOString() };
    this.onRefusal(from, reason);
  }

  private leave(propletId: string, state: Departure["state"], reason: string): void {
    if (!this.departures.has(propletId)) this.departures.set(propletId, { propletId, state, reason });
    this.waiting.delete(propletId);
    if (this.waiting.size === 0) this.wake?.();
  }

  private async step(kind: SecAggStepKind, members: string[], build: (propletId: string) => SecAggRequest["step"]): Promise<void> {
    if (this.phase === "done") throw new Error("the session was aborted");
    this.phase = kind;
    this.waiting = new Set(members);
    const answered = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.input.stepTimeoutMs);
      timer.unref();
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    for (const id of members) {
      await this.send(id, build(id)).catch((err: unknown) => this.leave(id, "missing", `the ${kind} request could not be sent: ${messageOf(err)}`));
    }
    if (this.waiting.size === 0) this.wake?.();
    await answered;
    this.wake = undefined;
    if ((this.phase as string) === "done") throw new Error("the session was aborted");
    for (const id of [...this.waiting]) this.leave(id, "missing", `no answer to the ${kind} step within ${this.input.stepTimeoutMs} ms`);
  }
}

function wireParams(p: SecAggParams): SecAggWireParams {
  return { threshold: p.threshold, length: p.length, clip: p.clip, maxWeight: p.maxWeight, fractionBits: p.fractionBits };
}
