/**
 * The proplet's side of secure aggregation in federated rounds (docs/secure-aggregation.md, "In
 * rounds"). The manager, as the aggregator, asks for one step at a time on `secagg/request`; each
 * answer (or the reason this proplet will not take the step) goes back on `secagg/reply`. The
 * update masked is the one this proplet holds for the named run (held.ts), checked as this round's
 * update first; once masked it is dropped. A refused step ends this proplet's part in the session:
 * a participant that answered a step twice, with other inputs, could leak its masks.
 */
import type { Logger } from "pino";
import { parseUpdate, type FlUpdate, type MessageBody, type SecAggReply, type SecAggRequest, type SecAggStepKind } from "../../protocol/index.js";
import { SecAggParticipant } from "../../protocol/secagg/index.js";
import { messageOf } from "../../lib/errors.js";
import type { HeldUpdates } from "./held.js";

/** Sessions one proplet takes part in at once, and how long one may last before it is forgotten. */
const MAX_SESSIONS = 8;
const SESSION_MAX_AGE_MS = 10 * 60 * 1000;

interface Session {
  participant: SecAggParticipant;
  runId: string;
  update: FlUpdate | null;
  startedAt: number;
}

export type SecAggReplyStep = SecAggReply["step"];

export interface SecAggClientDeps {
  propletId: string;
  held: HeldUpdates;
  log: Logger;
  send(body: MessageBody<SecAggReply>): Promise<void>;
  /** True (and counted) when this message id was seen before: a QoS 1 repeat is not a second step. */
  duplicate(messageId: string): boolean;
  /** Awaited before each reply is sent (tests use it to hold a step open). */
  beforeReply?: (kind: SecAggReplyStep["kind"], session: string) => Promise<void> | void;
  /** Called after each reply is sent (tests use it to stop a proplet between two steps). */
  afterReply?: (kind: SecAggReplyStep["kind"], session: string) => void;
}

export class SecAggClient {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly deps: SecAggClientDeps) {}

  async onRequest(m: SecAggRequest): Promise<void> {
    if (this.deps.duplicate(m.messageId)) return;
    this.expire();
    let step: SecAggReplyStep;
    try {
      step = await this.take(m);
    } catch (err) {
      const reason = messageOf(err).slice(0, 1000);
      this.end(m.session);
      if (m.step.kind === "advertise") this.deps.held.drop(m.step.runId);
      this.deps.log.warn({ session: m.session, step: m.step.kind, reason }, "secure aggregation step refused");
      step = { kind: "refused", of: m.step.kind, reason };
    }
    try {
      await this.deps.beforeReply?.(step.kind, m.session);
      await this.deps.send({ kind: "secagg.reply", propletId: this.deps.propletId, session: m.session, step });
    } catch (err) {
      this.deps.log.warn({ session: m.session, err: messageOf(err) }, "secure aggregation reply not sent");
      return;
    }
    this.deps.afterReply?.(step.kind, m.session);
  }

  private async take(m: SecAggRequest): Promise<SecAggReplyStep> {
    const s = m.step;
    if (s.kind === "advertise") {
      if (this.sessions.has(m.session)) throw new Error(`session ${m.session} was already advertised`);
      if (this.sessions.size >= MAX_SESSIONS) throw new Error(`already in ${MAX_SESSIONS} secure aggregation sessions`);
      // One session per held update: two could mask it under different survivor sets.
      if ([...this.sessions.values()].some((x) => x.runId === s.runId)) throw new Error(`the update of run ${s.runId} is already in another session`);
      const bytes = this.deps.held.peek(s.runId);
      if (!bytes) throw new Error(`no update is held for run ${s.runId} (never held, already masked, or expired)`);
      const parsed = parseUpdate(bytes, s.expect);
      if (!parsed.ok) throw new Error(`${parsed.code}: ${parsed.reason}`);
      if (parsed.value.samples > s.params.maxWeight) throw new Error(`update_bad_samples: ${parsed.value.samples} samples, the session takes at most ${s.params.maxWeight}`);
      const participant = new SecAggParticipant(this.deps.propletId, { roundId: m.session, ...s.params });
      const advertise = participant.advertise();
      this.sessions.set(m.session, { participant, runId: s.runId, update: parsed.value, startedAt: Date.now() });
      return { kind: "advertise", advertise };
    }
    const session = this.sessions.get(m.session);
    if (!session) throw new Error(`no secure aggregation session ${m.session} here (never advertised, ended, or expired)`);
    if (s.kind === "share") return { kind: "share", shareKeys: await session.participant.shareKeys(s.roster) };
    if (s.kind === "mask") {
      if (!session.update) throw new Error("the update was already masked");
      const masked = session.participant.maskedInput(s.shares, session.update.weights, session.update.samples);
      // Masked once, never again: the plaintext is forgotten here.
      session.update.weights.fill(0);
      session.update = null;
      this.deps.held.drop(session.runId);
      return { kind: "mask", masked };
    }
    const unmask = session.participant.unmask(s.request);
    this.sessions.delete(m.session);
    return { kind: "unmask", unmask };
  }

  private end(session: string): void {
    const s = this.sessions.get(session);
    if (!s) return;
    if (s.update) s.update.weights.fill(0);
    this.deps.held.drop(s.runId);
    this.sessions.delete(session);
  }

  private expire(): void {
    const cutoff = Date.now() - SESSION_MAX_AGE_MS;
    for (const [id, s] of this.sessions) if (s.startedAt < cutoff) this.end(id);
  }
}

export type { SecAggStepKind };
