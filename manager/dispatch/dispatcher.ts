/**
 * Dispatch is a lease (ARCHITECTURE.md, wire rule 3): task.start → task.accepted → task.result →
 * task.result-ack. A start not accepted within ackTimeoutMs is delivered again with the SAME run
 * id and nonce; after maxDeliveries unaccepted deliveries the run fails.
 */
import { PropellerError, type TaskAccepted, type TaskLog, type TaskResult } from "../../protocol/index.js";
import type { ManagerContext } from "../context.js";
import * as artifactStore from "../store/artifacts.js";
import * as runStore from "../store/runs.js";
import * as taskStore from "../store/tasks.js";
import * as propletStore from "../store/proplets.js";
import { checkReceipt } from "../receipts/check.js";
import { JwksCache } from "../receipts/jwks-cache.js";
import { runEnv, type ReceiptCheckRecord, type RunRecord, type StoredResult, type TaskSpec } from "../tasks/model.js";
import { isActiveRun } from "../tasks/state.js";
import { managerResult, transitionRun } from "../tasks/transitions.js";
import { resultAckMessage, startMessage, stopMessage } from "./messages.js";
import { openSpec } from "../tasks/secrets.js";
import { messageOf } from "../../lib/errors.js";
import { TransparencyLog } from "../tlog/log.js";
import { ATTR, SPAN } from "../../protocol/index.js";
import { contextOfMessage, failSpan, inSpan, SpanKind } from "../../lib/tracing/spans.js";
import { managerTracer, runTraces } from "../telemetry/tracing.js";

const SWEEP_BATCH = 200;
/** task.start messages of one pass in flight at once. */
const DELIVER_PARALLEL = 32;

export class Dispatcher {
  /** Token-signing keys of the KBSes that confidential tasks name. */
  private readonly jwks = new JwksCache();

  constructor(private readonly ctx: ManagerContext) {}

  /**
   * Publishes the first delivery of many scheduled runs (one scheduling pass): each inline artifact
   * is read from the store once however many runs carry it, and up to DELIVER_PARALLEL starts are
   * in flight at once (each still waits for its PUBACK).
   */
  async deliverAll(items: ReadonlyArray<{ run: RunRecord; spec: TaskSpec }>): Promise<void> {
    const artifacts = new Map<string, Promise<Buffer | null>>();
    const bytesOf = (digest: string) => {
      let bytes = artifacts.get(digest);
      if (!bytes) artifacts.set(digest, (bytes = artifactStore.getArtifact(this.ctx.db, digest)));
      return bytes;
    };
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const { run, spec } = items[next++]!;
        await this.deliver(run, spec, bytesOf);
      }
    };
    await Promise.all(Array.from({ length: Math.min(DELIVER_PARALLEL, items.length) }, worker));
  }

  /**
   * Publishes one delivery of a scheduled run. A broker outage is survived: the ack sweep redelivers.
   * Traced as a PRODUCER span of the run's trace; the task.start envelope's traceparent names it.
   */
  async deliver(run: RunRecord, spec: TaskSpec, bytesOf: (digest: string) => Promise<Buffer | null> = (d) => artifactStore.getArtifact(this.ctx.db, d)): Promise<void> {
    const propletId = run.propletId;
    if (!propletId) return;
    const attributes = {
      [ATTR.taskId]: run.taskId,
      [ATTR.runId]: run.id,
      [ATTR.propletId]: propletId,
      [ATTR.delivery]: run.deliveries,
      [ATTR.runtime]: spec.runtime,
      [ATTR.confidential]: Boolean(spec.confidential),
      ...(spec.confidential ? { [ATTR.tee]: spec.confidential.tee } : {}),
      [ATTR.messagingSystem]: "mqtt",
      [ATTR.messagingOperation]: "send",
    };
    await inSpan(managerTracer, SPAN.startPublish, attributes, () => this.deliverNow(run, propletId, spec, bytesOf), { kind: SpanKind.PRODUCER, parent: runTraces.parentOf(run.id) });
  }

  private async deliverNow(run: RunRecord, propletId: string, spec: TaskSpec, bytesOf: (digest: string) => Promise<Buffer | null>): Promise<void> {
    let payload: Buffer;
    try {
      const bytes = spec.artifact.location === "inline" ? await bytesOf(spec.artifact.digest) : null;
      if (spec.artifact.location === "inline" && !bytes) {
        throw new PropellerError("artifact_missing", `inline artifact ${spec.artifact.digest} is not in the store`);
      }
      // The one place secret values are opened: into the task.start, and nowhere else.
      payload = startMessage(propletId, run.taskId, openSpec(spec, run.taskId, this.ctx.secrets), run, bytes);
    } catch (err) {
      // The message can never be built: retrying would not help.
      await this.failRun(run, "dispatch_failed", `could not build task.start: ${messageOf(err)}`);
      return;
    }
    try {
      await this.ctx.publish(this.ctx.topics.proplet(propletId, "tasks/start"), payload);
      this.ctx.log.debug({ runId: run.id, propletId, delivery: run.deliveries }, "task.start sent");
    } catch (err) {
      this.ctx.log.warn({ runId: run.id, propletId, err: messageOf(err) }, "task.start not sent; will redeliver");
    }
  }

  /** Redelivers overdue starts, and fails runs whose deliveries are used up. */
  async sweepOverdue(): Promise<void> {
    const { ackTimeoutMs, maxDeliveries } = this.ctx.config;
    const now = this.ctx.now();
    const resend: RunRecord[] = [];
    await this.ctx.db.transaction(async (tx) => {
      const overdue = await runStore.claimOverdueDeliveries(tx, new Date(now.getTime() - ackTimeoutMs), SWEEP_BATCH);
      for (const run of overdue) {
        if (run.deliveries >= maxDeliveries) {
          const message = `proplet ${run.propletId} did not accept run ${run.id} within ${ackTimeoutMs} ms in ${run.deliveries} deliveries`;
          const failed = await transitionRun(tx, run, "failed", { finishedAt: now, result: managerResult("not_accepted", message) }, now);
          if (failed) {
            this.ctx.counters.inc("deliveryExhausted");
            this.ctx.log.warn({ runId: run.id, propletId: run.propletId }, message);
          }
          continue;
        }
        const again = await runStore.updateRunIf(tx, run.id, "scheduled", { deliveries: run.deliveries + 1, lastDeliveryAt: now });
        if (again) resend.push(again);
      }
    });
    for (const run of resend) {
      const task = await taskStore.getTask(this.ctx.db, run.taskId);
      if (!task) continue;
      this.ctx.counters.inc("redeliveries");
      await this.deliver(run, task.spec);
    }
  }

  /**
   * task.log on the progress stream: `{"event":"endpoint","url":"http://…"}` from a daemon's
   * proplet, kept while the run is active (shown as the run's `endpoint`). Anything else is ignored.
   */
  async onProgress(senderId: string, msg: TaskLog): Promise<void> {
    let event: unknown;
    try {
      event = JSON.parse(Buffer.from(msg.data, "base64").toString("utf8"));
    } catch {
      return;
    }
    const e = event as { event?: unknown; url?: unknown };
    if (e?.event !== "endpoint" || typeof e.url !== "string" || !/^https?:\/\/[^\s]{1,2000}$/.test(e.url)) return;
    const run = await this.runFor(senderId, msg.taskId, msg.runId, "task.log");
    if (!run || !isActiveRun(run.state)) return;
    this.ctx.endpoints.set(run.id, e.url);
    this.ctx.log.info({ runId: run.id, url: e.url }, "daemon endpoint");
  }

  /** task.accepted: the lease is taken; only from the proplet the run was given to. */
  async onAccepted(senderId: string, msg: TaskAccepted): Promise<void> {
    const run = await this.runFor(senderId, msg.taskId, msg.runId, "task.accepted");
    if (!run || run.state !== "scheduled") return; // repeats and late accepts change nothing
    const now = this.ctx.now();
    const moved = await this.ctx.db.transaction((tx) => transitionRun(tx, run, "running", { acceptedAt: now, startedAt: now }, now, { expectedProplet: senderId }));
    if (moved) this.ctx.metrics.dispatchLatency.observe(secondsBetween(run.createdAt, now));
  }

  /**
   * task.result: stored once, then acknowledged. A repeat of a stored result is acknowledged again
   * (the proplet resends until it hears the ack) but never stored twice.
   */
  async onResult(senderId: string, msg: TaskResult): Promise<void> {
    // CONSUMER span of the run's trace: its parent is the proplet's result span (the envelope's traceparent).
    const attributes = { [ATTR.taskId]: msg.taskId, [ATTR.runId]: msg.runId, [ATTR.propletId]: senderId, [ATTR.outcome]: msg.outcome, [ATTR.messagingSystem]: "mqtt", [ATTR.messagingOperation]: "receive" };
    await inSpan(managerTracer, SPAN.resultReceive, attributes, () => this.handleResult(senderId, msg), { kind: SpanKind.CONSUMER, parent: contextOfMessage(msg) });
    runTraces.forget(msg.runId);
  }

  private async handleResult(senderId: string, msg: TaskResult): Promise<void> {
    const result: StoredResult = {
      exitCode: msg.exitCode,
      returnValues: msg.returnValues,
      ...(msg.returnWave !== undefined ? { returnWave: msg.returnWave } : {}),
      stdout: msg.stdout,
      stderr: msg.stderr,
      stdoutTruncated: msg.stdoutTruncated,
      stderrTruncated: msg.stderrTruncated,
      error: msg.error,
    };
    // A concurrent accept (scheduled → running) can move the run under us: read again and retry.
    for (let attempt = 0; attempt < 5; attempt++) {
      const run = await this.runFor(senderId, msg.taskId, msg.runId, "task.result");
      if (run === null) return; // not this sender's run: dropped, not acknowledged
      if (run === undefined) {
        // Unknown run (e.g. its task was deleted): acknowledged so the proplet stops resending.
        await this.ack(senderId, msg);
        return;
      }
      this.ctx.endpoints.delete(run.id); // a finished daemon serves nothing
      const now = this.ctx.now();
      if (isActiveRun(run.state)) {
        // The receipt is checked BEFORE the run may count as completed: a run whose receipt fails
        // is failed with the names and reasons of the failed checks (docs/receipts.md).
        const receiptCheck = await inSpan(managerTracer, SPAN.receiptVerify, { [ATTR.runId]: run.id }, async (span) => {
          const check = await this.checkReceipt(run, senderId, msg);
          span.setAttributes({ [ATTR.receiptValid]: check.ok, [ATTR.receiptAttested]: check.attested });
          if (!check.ok) failSpan(span, "receipt_invalid");
          return check;
        });
        const outcome = receiptCheck.ok ? msg.outcome : "failed";
        let unlogged = false;
        const stored = await inSpan(managerTracer, SPAN.runStore, { [ATTR.runId]: run.id, [ATTR.outcome]: outcome }, async (span) => {
          const written = await this.ctx.db.transaction(async (tx) => {
            const moved = await transitionRun(
              tx,
              run,
              outcome,
              {
                finishedAt: now,
                result: receiptCheck.ok ? result : { ...result, error: { code: "receipt_invalid", message: withOriginalError(receiptCheck.reason, msg.error) } },
                receipt: msg.receipt ?? null,
                receiptCheck,
                ...(run.startedAt ? {} : { startedAt: now }),
              },
              now,
              { expectedProplet: senderId },
            );
            // Queued for the transparency log in the same transaction: a crash cannot store the run
            // and lose its log entry.
            if (moved && receiptCheck.ok && msg.receipt) unlogged = !(await TransparencyLog.enqueue(tx, run.id, msg.receipt));
            return moved;
          });
          span.setAttribute(ATTR.runStored, Boolean(written));
          return written;
        });
        if (!stored) continue;
        this.ctx.metrics.receiptChecks.inc({ outcome: receiptCheck.ok ? "valid" : "rejected", attested: String(receiptCheck.attested) });
        this.ctx.metrics.runsFinished.inc({ outcome });
        this.ctx.metrics.runLatency.observe({ outcome }, secondsBetween(run.createdAt, now));
        if (unlogged) {
          this.ctx.counters.inc("receiptsUnlogged");
          this.ctx.log.warn({ runId: run.id }, "receipt too large for a log entry (64 KiB): not in the transparency log");
        }
        if (!receiptCheck.ok) {
          this.ctx.counters.inc("receiptsRejected");
          this.ctx.log.warn({ runId: run.id, propletId: senderId, reason: receiptCheck.reason }, "receipt rejected: run failed");
        }
        this.ctx.log.info({ runId: run.id, taskId: run.taskId, outcome, propletId: senderId }, "run finished");
        this.ctx.events.emit({ type: "run.finished", runId: run.id, taskId: run.taskId });
      } else if (run.state === "stopped" && run.result === null) {
        // Stopped by request while it ran: keep what the proplet reports; the state stays stopped.
        await runStore.updateRunIf(this.ctx.db, run.id, "stopped", { result, receipt: msg.receipt ?? null }, senderId);
      } else {
        this.ctx.counters.inc("duplicateResults");
      }
      await this.ack(senderId, msg);
      return;
    }
    this.ctx.counters.inc("handlerErrors");
    this.ctx.log.error({ runId: msg.runId }, "result not stored: the run kept changing; the proplet will resend it");
  }

  /** Runs the receipt rule for one result, against what this run was dispatched with. */
  private async checkReceipt(run: RunRecord, senderId: string, msg: TaskResult): Promise<ReceiptCheckRecord> {
    const task = await taskStore.getTask(this.ctx.db, run.taskId);
    const proplet = await propletStore.getProplet(this.ctx.db, senderId);
    if (!task) return { ok: false, attested: false, reason: "the run's task no longer exists", checks: [] };
    let spec: TaskSpec;
    try {
      // The receipt binds the environment the run got, secret values included.
      spec = openSpec(task.spec, run.taskId, this.ctx.secrets);
    } catch (err) {
      return { ok: false, attested: false, reason: messageOf(err), checks: [] };
    }
    const check = await checkReceipt(
      {
        receipt: msg.receipt,
        start: { taskId: run.taskId, runId: run.id, propletId: senderId, receiptNonce: run.receiptNonce, entrypoint: spec.entrypoint, args: spec.args, env: runEnv(spec), stdin: spec.stdin, ...(spec.grants ? { grants: spec.grants } : {}) },
        result: msg,
        artifactDigest: spec.artifact.digest,
        confidential: spec.confidential ?? undefined,
        propletIdentityKey: proplet?.identityKey ?? undefined,
      },
      this.jwks,
    );
    return {
      ok: check.ok,
      attested: check.verification?.attested ?? false,
      reason: check.reason,
      checks: (check.verification?.checks ?? []).map((c) => ({ name: c.name, ok: c.ok, detail: c.detail })),
    };
  }

  /** Fails a run the manager gave up on (recording why). */
  async failRun(run: RunRecord, code: string, message: string): Promise<void> {
    const now = this.ctx.now();
    const current = await runStore.getRun(this.ctx.db, run.id);
    if (!current || (!isActiveRun(current.state) && current.state !== "queued")) return;
    await this.ctx.db.transaction((tx) => transitionRun(tx, current, "failed", { finishedAt: now, result: managerResult(code, message) }, now));
    this.ctx.log.warn({ runId: run.id, code }, message);
    if (current.propletId && isActiveRun(current.state)) await this.stop(current, message);
  }

  async stop(run: Pick<RunRecord, "id" | "taskId" | "propletId">, reason: string): Promise<void> {
    if (!run.propletId) return;
    await this.ctx
      .publish(this.ctx.topics.proplet(run.propletId, "tasks/stop"), stopMessage(run.propletId, run.taskId, run.id, reason))
      .catch((err: unknown) => this.ctx.log.warn({ runId: run.id, err: messageOf(err) }, "could not send task.stop"));
  }

  private async ack(propletId: string, msg: { taskId: string; runId: string }): Promise<void> {
    await this.ctx
      .publish(this.ctx.topics.proplet(propletId, "tasks/result-ack"), resultAckMessage(propletId, msg.taskId, msg.runId))
      .catch((err: unknown) => this.ctx.log.warn({ runId: msg.runId, err: messageOf(err) }, "could not send task.result-ack"));
  }

  /**
   * The run a message from `senderId` refers to. undefined: unknown run; null: known but not this
   * sender's (counted and dropped).
   */
  /** The run a proplet message is about, when that proplet holds it: undefined unknown, null not its run (both counted and logged). */
  async runFor(senderId: string, taskId: string, runId: string, what: string): Promise<RunRecord | null | undefined> {
    const run = await runStore.getRun(this.ctx.db, runId);
    if (!run || run.taskId !== taskId) {
      this.ctx.counters.inc("unknownRuns");
      this.ctx.log.warn({ runId, taskId, propletId: senderId }, `${what} for an unknown run`);
      return undefined;
    }
    if (run.propletId !== senderId) {
      this.ctx.counters.inc("wrongProplet");
      this.ctx.log.warn({ runId, propletId: senderId, assignedTo: run.propletId }, `${what} from a proplet the run is not assigned to; dropped`);
      return null;
    }
    return run;
  }
}

/** The receipt failure, keeping the proplet's own error (if any) so neither reason is lost. */
function withOriginalError(reason: string, original: TaskResult["error"]): string {
  const text = original ? `${reason}; the proplet reported ${original.code}: ${original.message}` : reason;
  return text.slice(0, 4096);
}

const secondsBetween = (from: Date, to: Date): number => Math.max(0, to.getTime() - from.getTime()) / 1000;
