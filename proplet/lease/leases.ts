/**
 * The dispatch lease of every run on this proplet: task.start → task.accepted → running →
 * task.result, kept and resent until task.result-ack; stop; de-duplication by run id. The agent
 * (proplet/agent/) owns the connection and presence and hands validated messages here; this
 * class publishes through the functions it is given, so it knows nothing of MQTT.
 *
 * The rules the manager relies on are listed at the top of proplet/agent/agent.ts.
 */
import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import { childTraceparent, encodeHeld, encodeTopicMessage, teeSatisfies, type PropletTopicName, type RunRef, type TaskStart, type TaskStop, type TopicMessage } from "../../protocol/index.js";
import type { ArtifactSources } from "../artifacts/index.js";
import type { PropletConfig } from "../config.js";
import type { Runtime, RunReport } from "../execute/runtime.js";
import { withReceipt, type ReceiptBasis, type ReceiptStart } from "../trust/receipt.js";
import { messageOf } from "../../lib/errors.js";
import { BoundedRunSet, PendingResults, failedReport, resultBody, stoppedReport, type ResultBody } from "./results.js";
import { runStart, unattestedBasis } from "./run.js";
import { LiveOutput } from "./live-output.js";
import type { HeldUpdates } from "../secagg/held.js";
import type { PropletMetrics } from "../telemetry/metrics.js";
import type { PropletCounters, PropletTrust } from "./types.js";
import { ATTR, SPAN } from "../../protocol/index.js";
import { context, trace } from "@opentelemetry/api";
import { contextOfMessage, failSpan, inSpan, SpanKind, type Span } from "../../lib/tracing/spans.js";
import { propletTracer } from "../telemetry/tracing.js";

interface ActiveRun {
  ref: RunRef;
  memoryBytes: number;
  controller: AbortController;
  done: Promise<void>;
  /** A daemon's URL once it serves (re-announced with every presence). */
  endpoint?: string;
  traceparent: string;
}

/** What the leases need from the agent: a way to publish, and the connection's and shutdown's state. */
/** Longest wait for the live output's publishes before the result is sent anyway. */
const LIVE_OUTPUT_WAIT_MS = 5000;

export interface LeaseDeps {
  config: PropletConfig;
  runtimes: Runtime[];
  sources: ArtifactSources;
  trust: PropletTrust;
  log: Logger;
  counters: PropletCounters;
  /** Run and artifact figures for the Prometheus export (telemetry/). */
  metrics?: PropletMetrics;
  publish<N extends PropletTopicName>(name: N, body: Parameters<typeof encodeTopicMessage<N>>[1]): Promise<void>;
  connected(): boolean;
  /** True once the proplet is killed or shutting down: nothing more is published about runs. */
  stopping(): boolean;
  /** True (and counted) when this message id was seen before. */
  duplicate(messageId: string): boolean;
  /** Updates held for secure aggregation (proplet/secagg/held.ts). */
  held: HeldUpdates;
  /** Tests only: sees each update as it is held (the proplet's own plaintext, to check the aggregate against). */
  onHeld?: (runId: string, update: Uint8Array) => void;
}

export class Leases {
  private readonly runs = new Map<string, ActiveRun>();
  private readonly results: PendingResults;
  /** Runs that ended here and were acknowledged (or evicted): never run again. */
  private readonly ended = new BoundedRunSet();

  constructor(private readonly deps: LeaseDeps) {
    this.results = new PendingResults(deps.config.pendingResults, { baseMs: deps.config.resultResendMs, maxMs: deps.config.resultResendMaxMs });
  }

  /** Runs holding a slot now. */
  get size(): number {
    return this.runs.size;
  }

  /** Every running daemon's endpoint, announced again (with each presence). */
  async announceEndpoints(): Promise<void> {
    for (const run of this.runs.values()) if (run.endpoint) await this.announceEndpoint(run);
  }

  private get config(): PropletConfig {
    return this.deps.config;
  }
  private get log(): Logger {
    return this.deps.log;
  }
  private get trust(): PropletTrust {
    return this.deps.trust;
  }
  private get runtimes(): Runtime[] {
    return this.deps.runtimes;
  }
  private get sources(): ArtifactSources {
    return this.deps.sources;
  }
  private get counters(): PropletCounters {
    return this.deps.counters;
  }
  private publish<N extends PropletTopicName>(name: N, body: Parameters<typeof encodeTopicMessage<N>>[1]): Promise<void> {
    return this.deps.publish(name, body);
  }

  async onStart(m: TaskStart): Promise<void> {
    const ref: RunRef = { taskId: m.taskId, runId: m.runId };
    const log = this.log.child({ taskId: m.taskId, runId: m.runId });
    // Idempotent by run id (redelivered leases carry a new messageId).
    const running = this.runs.get(m.runId);
    if (running) {
      log.debug("start for a running run: accepting again");
      await this.accept(ref, m.traceparent);
      if (running.endpoint) await this.announceEndpoint(running);
      return;
    }
    const pending = this.results.get(m.runId);
    if (pending) {
      log.debug("start for a finished run: resending its result");
      return this.sendResult(pending);
    }
    if (this.ended.has(m.runId)) {
      log.info("start for a run that already ended here and was acknowledged: ignored");
      return;
    }

    const never = this.neverFits(m);
    if (never) {
      if (this.deps.duplicate(m.messageId)) return;
      await this.accept(ref, m.traceparent);
      return this.finish(m, failedReport(never.code, never.message), unattestedBasis(m, this.trust.identity));
    }
    if (!this.hasRoomFor(m)) {
      // Not accepted, and the messageId is not remembered: the manager's redelivery is welcome.
      this.counters.busyRefusals++;
      log.info({ running: this.runs.size, maxConcurrency: this.config.maxConcurrency }, "busy: start not accepted (the manager's lease will redeliver)");
      return;
    }
    if (this.deps.duplicate(m.messageId)) return;

    // The run's span on this proplet: a CONSUMER child of the manager's task.start span (the
    // envelope's traceparent), active for everything the run does until its result is sent.
    const span = propletTracer.startSpan(
      SPAN.startReceive,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          [ATTR.taskId]: m.taskId,
          [ATTR.runId]: m.runId,
          [ATTR.propletId]: this.config.id,
          [ATTR.attempt]: m.attempt,
          [ATTR.runtime]: m.runtime,
          [ATTR.confidential]: Boolean(m.confidential),
          ...(m.confidential ? { [ATTR.tee]: m.confidential.tee } : {}),
          [ATTR.messagingSystem]: "mqtt",
          [ATTR.messagingOperation]: "receive",
        },
      },
      contextOfMessage(m),
    );
    return context.with(trace.setSpan(context.active(), span), () => this.runAccepted(m, ref, log, span));
  }

  private async runAccepted(m: TaskStart, ref: RunRef, log: Logger, span: Span): Promise<void> {
    const controller = new AbortController();
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => (resolveDone = r));
    this.runs.set(m.runId, { ref, memoryBytes: m.limits.memoryBytes, controller, done, traceparent: m.traceparent });
    this.counters.runsStarted++;
    await this.accept(ref, m.traceparent);
    const onEndpoint = (url: string) => {
      const active = this.runs.get(m.runId);
      if (!active) return;
      active.endpoint = url;
      void this.announceEndpoint(active);
    };
    const startedAt = performance.now();
    const metrics = this.deps.metrics;
    const live = new LiveOutput({
      // Offline, live chunks are skipped (not queued behind the reconnect): the result carries all output.
      send: async (seq, stream, data) => {
        if (!this.deps.connected()) return;
        await this.publish("tasks/log", { kind: "task.log", propletId: this.config.id, ...ref, traceparent: childTraceparent(m.traceparent), seq, stream, data: data.toString("base64") });
      },
      onError: (err) => log.debug({ err: messageOf(err) }, "a live output chunk was not sent (the result carries the output)"),
    });
    // A held update (secure aggregation) never leaves the proplet in the clear, not even live.
    const onOutput = (stream: "stdout" | "stderr", data: Uint8Array) => {
      if (stream === "stdout" && m.holdOutput) return;
      live.write(stream, data);
    };
    void runStart(m, controller.signal, { runtimes: this.runtimes, sources: this.sources, artifactMaxBytes: this.config.artifactMaxBytes, trust: this.trust, log: this.log, onEndpoint, onOutput, ...(metrics ? { metrics } : {}) })
      .then(async ({ report, basis }) => {
        metrics?.runDuration.observe({ runtime: m.runtime, outcome: report.outcome }, (performance.now() - startedAt) / 1000);
        span.setAttribute(ATTR.outcome, report.outcome);
        if (report.error) {
          span.setAttribute(ATTR.errorCode, report.error.code);
          failSpan(span, report.error.code);
        }
        // Live output first, so a follower sees every line before the run ends.
        // Bounded: a broker that does not acknowledge must not hold the result back.
        await Promise.race([live.end(), new Promise<void>((r) => setTimeout(r, LIVE_OUTPUT_WAIT_MS).unref())]);
        return this.finish(m, m.holdOutput ? this.holdOutput(m, report) : report, basis);
      })
      .catch((err: unknown) => log.error({ err: messageOf(err) }, "run failed unexpectedly"))
      .finally(() => {
        span.end();
        this.runs.delete(m.runId);
        resolveDone();
      });
  }

  /**
   * Secure aggregation: the run's stdout (its update) is kept in the held store and the result
   * carries only its digest (protocol/fl.ts encodeHeld), which the receipt then covers. A run that
   * did not complete reports no output at all.
   */
  private holdOutput(m: TaskStart, report: RunReport): RunReport {
    if (report.outcome !== "completed") return { ...report, stdout: new Uint8Array(), stdoutTruncated: false };
    const { held, evicted } = this.deps.held.hold(m.runId, report.stdout);
    for (const runId of evicted) this.log.warn({ runId }, "held-update store full: forgot the oldest held update");
    if (held) this.deps.onHeld?.(m.runId, new Uint8Array(report.stdout));
    if (!held) return failedReport("output_not_held", `the update (${report.stdout.byteLength} bytes) is larger than the held-update store`);
    return { ...report, stdout: encodeHeld(report.stdout, report.stdoutTruncated), stdoutTruncated: false };
  }

  /** Reasons a start can never run here (answered with a failed result, not left to redelivery). */
  private neverFits(m: TaskStart): { code: string; message: string } | undefined {
    if (!this.runtimes.some((r) => r.kind === m.runtime)) {
      return { code: "unsupported_runtime", message: `this proplet runs ${this.runtimes.map((r) => r.kind).join(", ")}, not ${m.runtime}` };
    }
    if (m.confidential) {
      const tee = this.trust.attestation?.tee;
      if (!tee) return { code: "confidential_unsupported", message: `this proplet has no TEE and cannot run confidential workloads (the task needs ${m.confidential.tee})` };
      if (!teeSatisfies(m.confidential.tee, tee)) return { code: "tee_mismatch", message: `the task needs TEE ${m.confidential.tee}; this proplet attests ${tee}` };
    }
    if (m.limits.memoryBytes > this.config.memoryBytes) {
      return { code: "insufficient_memory", message: `the run asks for ${m.limits.memoryBytes} bytes of memory; this proplet offers ${this.config.memoryBytes}` };
    }
    return undefined;
  }

  private hasRoomFor(m: TaskStart): boolean {
    if (this.runs.size >= this.config.maxConcurrency) return false;
    return this.reservedMemory() + m.limits.memoryBytes <= this.config.memoryBytes;
  }

  reservedMemory(): number {
    let sum = 0;
    for (const r of this.runs.values()) sum += r.memoryBytes;
    return sum;
  }

  async onStop(m: TaskStop): Promise<void> {
    if (this.deps.duplicate(m.messageId)) return;
    const run = this.runs.get(m.runId);
    if (run) {
      this.log.info({ runId: m.runId, reason: m.reason }, "stopping run");
      run.controller.abort(m.reason || "stopped by request");
      return;
    }
    const pending = this.results.get(m.runId);
    if (pending) return this.sendResult(pending);
    if (this.ended.has(m.runId)) return;
    this.log.info({ runId: m.runId }, "stop for a run this proplet does not know: answering stopped");
    return this.finish({ taskId: m.taskId, runId: m.runId, traceparent: m.traceparent }, stoppedReport(m.reason || "stopped before it started"), null);
  }

  onResultAck(m: TopicMessage<"tasks/result-ack">): void {
    if (this.results.remove(m.runId)) this.log.debug({ runId: m.runId }, "result acknowledged");
    this.ended.add(m.runId);
  }

  /**
   * Builds, signs and stores the result, then sends it. Order matters: the outputs are cut to fit
   * the MQTT payload first, then the receipt is signed over exactly those fields; the body is not
   * changed after signing. `basis` is null only for a result that answers no start (a stop for an
   * unknown run): no nonce to bind, no receipt.
   */
  private async finish(m: (ReceiptStart & Pick<TaskStart, "traceparent">) | Pick<TaskStart, "taskId" | "runId" | "traceparent">, report: RunReport, basis: ReceiptBasis | null): Promise<void> {
    if (this.deps.stopping()) return; // killed or shutting down: the run is abandoned, not reported
    // PRODUCER span: the result's envelope names it, so the manager's handling is its child.
    const attributes = { [ATTR.taskId]: m.taskId, [ATTR.runId]: m.runId, [ATTR.propletId]: this.config.id, [ATTR.outcome]: report.outcome, [ATTR.messagingSystem]: "mqtt", [ATTR.messagingOperation]: "send" };
    await inSpan(propletTracer, SPAN.resultPublish, attributes, () => this.finishNow(m, report, basis), { kind: SpanKind.PRODUCER });
  }

  private async finishNow(m: (ReceiptStart & Pick<TaskStart, "traceparent">) | Pick<TaskStart, "taskId" | "runId" | "traceparent">, report: RunReport, basis: ReceiptBasis | null): Promise<void> {
    const sign = async (body: ResultBody) =>
      basis && "receiptNonce" in m ? inSpan(propletTracer, SPAN.receiptSign, { [ATTR.runId]: m.runId, [ATTR.receiptAttested]: basis.attestation !== null }, () => withReceipt(m, body, basis)) : body;
    let body: ResultBody;
    let bytes: number;
    try {
      body = await sign(resultBody(this.config.id, m, report));
      bytes = encodeTopicMessage("tasks/result", body).byteLength;
    } catch (err) {
      // Never leave the manager without an answer because a result would not encode or sign.
      this.log.error({ runId: m.runId, err: messageOf(err) }, "result does not fit the protocol; reporting the failure instead");
      body = await sign(resultBody(this.config.id, m, failedReport("result_invalid", `the run's result could not be sent: ${messageOf(err)}`)));
      bytes = encodeTopicMessage("tasks/result", body).byteLength;
    }
    for (const evicted of this.results.add(body, bytes)) {
      this.counters.resultsDropped++;
      this.ended.add(evicted);
      this.log.error({ runId: evicted }, "pending-results store full: dropped the oldest unacknowledged result");
    }
    this.log.info({ runId: m.runId, outcome: report.outcome, code: report.error?.code, attested: basis?.attestation != null }, "run finished");
    await this.sendResult(body);
  }

  private async sendResult(body: ResultBody): Promise<void> {
    if (!this.deps.connected()) return; // resent on reconnect
    this.results.sent(body.runId);
    try {
      await this.publish("tasks/result", body);
      this.counters.resultsSent++;
    } catch (err) {
      this.log.warn({ runId: body.runId, err: messageOf(err) }, "sending a result failed; it will be resent");
    }
  }

  /**
   * A daemon's URL, as a `task.log` on the progress stream: `{"event":"endpoint","url":…}`. Sent
   * when it starts serving and again with every presence (a restarted manager learns it again).
   */
  async announceEndpoint(run: ActiveRun): Promise<void> {
    if (!run.endpoint || this.deps.stopping() || !this.deps.connected()) return;
    const data = Buffer.from(JSON.stringify({ event: "endpoint", url: run.endpoint })).toString("base64");
    await this.publish("tasks/log", { kind: "task.log", propletId: this.config.id, ...run.ref, traceparent: childTraceparent(run.traceparent), seq: 0, stream: "progress", data }).catch((err: unknown) =>
      this.log.warn({ runId: run.ref.runId, err: messageOf(err) }, "sending a daemon's endpoint failed (resent with the next presence)"),
    );
  }

  async resendResults(all: boolean): Promise<void> {
    if (this.deps.stopping() || !this.deps.connected()) return;
    for (const body of this.results.due(Date.now(), all)) await this.sendResult(body);
  }

  private async accept(ref: RunRef, traceparent: string): Promise<void> {
    await this.publish("tasks/accepted", { kind: "task.accepted", propletId: this.config.id, ...ref, traceparent: childTraceparent(traceparent) }).catch((err: unknown) =>
      this.log.warn({ runId: ref.runId, err: messageOf(err) }, "sending task.accepted failed (the manager will redeliver)"),
    );
  }

  runningRefs(): RunRef[] {
    return [...this.runs.values()].map((r) => r.ref);
  }

  async abortAll(reason: string): Promise<void> {
    const runs = [...this.runs.values()];
    for (const run of runs) run.controller.abort(reason);
    await Promise.all(runs.map((r) => r.done));
  }
}
