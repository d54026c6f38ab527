/**
 * A lease's results: the result message built from a run's report (cut to fit the MQTT payload),
 * the failed and stopped reports the lease makes itself, and the results waiting for the manager's
 * `task.result-ack`. PUBACK only means the broker has a message
 * (TOOLCHAIN.md), so a result is kept and resent (on reconnect, on `manager.online`, and on a
 * backoff timer) until the manager says it stored it. Bounded in count and bytes: when full, the
 * oldest result is dropped (and reported by the caller), never memory without end.
 */
import { LIMITS, childTraceparent, type MessageBody, type TaskResult, type TaskStart } from "../../protocol/index.js";
import type { RunReport } from "../execute/index.js";

export type ResultBody = MessageBody<TaskResult>;

interface Entry {
  body: ResultBody;
  bytes: number;
  sends: number;
  nextSendAt: number;
}

export class PendingResults {
  private readonly entries = new Map<string, Entry>();
  private totalBytes = 0;

  constructor(
    private readonly limits: { maxCount: number; maxBytes: number },
    private readonly backoff: { baseMs: number; maxMs: number },
  ) {}

  get size(): number {
    return this.entries.size;
  }

  has(runId: string): boolean {
    return this.entries.has(runId);
  }

  get(runId: string): ResultBody | undefined {
    return this.entries.get(runId)?.body;
  }

  /** Stores a result; returns the run ids evicted to stay within bounds. */
  add(body: ResultBody, bytes: number): string[] {
    this.remove(body.runId);
    this.entries.set(body.runId, { body, bytes, sends: 0, nextSendAt: 0 });
    this.totalBytes += bytes;
    const evicted: string[] = [];
    for (const [runId] of this.entries) {
      if (this.entries.size <= this.limits.maxCount && this.totalBytes <= this.limits.maxBytes) break;
      if (runId === body.runId) continue;
      this.remove(runId);
      evicted.push(runId);
    }
    return evicted;
  }

  remove(runId: string): boolean {
    const entry = this.entries.get(runId);
    if (!entry) return false;
    this.entries.delete(runId);
    this.totalBytes -= entry.bytes;
    return true;
  }

  /** Records a send and schedules the next one (exponential backoff). */
  sent(runId: string, now = Date.now()): void {
    const entry = this.entries.get(runId);
    if (!entry) return;
    entry.sends++;
    entry.nextSendAt = now + Math.min(this.backoff.baseMs * 2 ** (entry.sends - 1), this.backoff.maxMs);
  }

  /** Results due for a (re)send; `all` ignores the backoff (reconnect, manager.online). */
  due(now = Date.now(), all = false): ResultBody[] {
    return [...this.entries.values()].filter((e) => all || e.nextSendAt <= now).map((e) => e.body);
  }
}

/** A bounded set of run ids (oldest forgotten first): runs that ended here and must not run again. */
export class BoundedRunSet {
  private readonly ids = new Set<string>();
  constructor(private readonly capacity = 10_000) {}
  add(id: string): void {
    this.ids.delete(id);
    this.ids.add(id);
    if (this.ids.size > this.capacity) {
      const oldest = this.ids.values().next().value;
      if (oldest !== undefined) this.ids.delete(oldest);
    }
  }
  has(id: string): boolean {
    return this.ids.has(id);
  }
}

export function failedReport(code: string, message: string): RunReport {
  return { outcome: "failed", exitCode: null, returnValues: null, stdout: new Uint8Array(), stderr: new Uint8Array(), stdoutTruncated: false, stderrTruncated: false, error: { code, message: message.slice(0, 4000) }, startedAt: null, finishedAt: new Date() };
}

export function stoppedReport(reason: AbortSignal | string): RunReport {
  const text = typeof reason === "string" ? reason : typeof reason.reason === "string" ? reason.reason : "stopped by request";
  return { ...failedReport("stopped", text), outcome: "stopped" };
}

/** Room for everything in a result but stdout/stderr (ids, error message, times, envelope). */
const RESULT_OVERHEAD_BYTES = 64 * 1024;

/**
 * Builds the result message. The two outputs are each capped by the task (≤ 4 MiB), but both in
 * base64 may exceed the MQTT payload limit: then they are cut further, and marked truncated.
 */
export function resultBody(propletId: string, m: Pick<TaskStart, "taskId" | "runId" | "traceparent">, r: RunReport): ResultBody {
  const budget = Math.floor(((LIMITS.mqttPayloadBytes - RESULT_OVERHEAD_BYTES) * 3) / 4 / 2);
  const cut = (b: Uint8Array) => (b.byteLength > budget ? b.subarray(0, budget) : b);
  const body: ResultBody = {
    kind: "task.result",
    propletId,
    taskId: m.taskId,
    runId: m.runId,
    traceparent: childTraceparent(m.traceparent),
    outcome: r.outcome,
    exitCode: r.exitCode,
    returnValues: r.returnValues,
    ...(r.returnWave != null ? { returnWave: r.returnWave } : {}),
    stdout: Buffer.from(cut(r.stdout)).toString("base64"),
    stderr: Buffer.from(cut(r.stderr)).toString("base64"),
    stdoutTruncated: r.stdoutTruncated || r.stdout.byteLength > budget,
    stderrTruncated: r.stderrTruncated || r.stderr.byteLength > budget,
    error: r.error ? { code: r.error.code.slice(0, 64), message: r.error.message.slice(0, 4000) } : null,
    startedAt: r.startedAt?.toISOString() ?? null,
    finishedAt: r.finishedAt.toISOString(),
  };
  return body;
}

