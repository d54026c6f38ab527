/**
 * A run's live output: chunks its proplet streams as task.log (stdout/stderr) are stored (bounded
 * per run) and handed to followers; GET …/logs?follow=true replays what is stored and then streams
 * until the run ends. Followers are bounded in number; each is woken by domain events and, because
 * another manager on the same database may be the one that stores the result, by a slow poll.
 */
import type { TaskLog } from "../../protocol/index.js";
import { LOG_BYTES_PER_RUN_MAX, LOG_PAGE_MAX, LOG_SEQ_MAX, type LogChunk } from "../../protocol/api/index.js";
import { BoundedMap } from "../../lib/bounded-map.js";
import type { ManagerContext } from "../context.js";
import { NotFoundError, ServiceUnavailableError } from "../errors.js";
import * as logStore from "../store/logs.js";
import * as runStore from "../store/runs.js";
import type { RunRecord } from "../tasks/model.js";
import { isActiveRun, isTerminalRun, type RunState } from "../tasks/state.js";

/** Most followers at once on one manager; beyond it a follow answers 503. */
export const MAX_FOLLOWERS = 256;
/** How often a follower re-reads its run's state when no event woke it. */
const POLL_MS = 2000;

export interface RunLookup {
  runFor(senderId: string, taskId: string, runId: string, what: string): Promise<RunRecord | null | undefined>;
}

export interface Follower {
  /** Called with each chunk in seq order, then `end` once with the final state. */
  chunk(c: LogChunk): void;
  end(state: RunState): void;
}

const view = (c: logStore.LogChunkRecord): LogChunk => ({ seq: c.seq, stream: c.stream, data: c.data.toString("base64"), at: c.at.toISOString() });

export class LogService {
  /** Bytes stored per active run on this manager (seeded from the store on its first chunk here). */
  private readonly stored = new BoundedMap<string, number>({ maxEntries: 10_000 });
  private followers = 0;

  constructor(
    private readonly ctx: ManagerContext,
    private readonly runs: RunLookup,
  ) {}

  /** task.log stdout/stderr from a proplet: stored once, then handed to followers. */
  async onOutput(senderId: string, msg: TaskLog): Promise<void> {
    if (msg.stream === "progress") return;
    const run = await this.runs.runFor(senderId, msg.taskId, msg.runId, "task.log");
    if (!run || !isActiveRun(run.state)) return;
    if (msg.seq < 1 || msg.seq > LOG_SEQ_MAX) {
      this.ctx.counters.inc("malformedMessages");
      this.ctx.log.warn({ runId: run.id, seq: msg.seq }, `task.log seq out of range (1 to ${LOG_SEQ_MAX}); dropped`);
      return;
    }
    const data = Buffer.from(msg.data, "base64");
    const before = this.stored.get(run.id) ?? (await logStore.logBytes(this.ctx.db, run.id));
    if (before + data.byteLength > LOG_BYTES_PER_RUN_MAX) {
      if (before <= LOG_BYTES_PER_RUN_MAX) this.ctx.log.warn({ runId: run.id, bytes: before }, `live output beyond ${LOG_BYTES_PER_RUN_MAX} bytes is not kept (the result carries the output)`);
      this.stored.set(run.id, before + data.byteLength);
      return;
    }
    const chunk: logStore.LogChunkRecord = { runId: run.id, seq: msg.seq, stream: msg.stream, data, at: this.ctx.now() };
    if (!(await logStore.insertLogChunk(this.ctx.db, chunk))) return; // a redelivery
    this.stored.set(run.id, before + data.byteLength);
    this.ctx.events.emit({ type: "run.log", runId: run.id, chunk: view(chunk) });
  }

  /** The stored chunks after `after` (one page), and the run's state. */
  async list(taskId: string, runId: string, after: number): Promise<{ items: LogChunk[]; state: RunState }> {
    const run = await this.runOf(taskId, runId);
    const items = (await logStore.listLogChunks(this.ctx.db, run.id, after, LOG_PAGE_MAX)).map(view);
    return { items, state: run.state };
  }

  /**
   * Streams a run's chunks after `after` to `to` until the run ends or `signal` aborts. Throws
   * NotFoundError for an unknown run, ServiceUnavailableError when too many follow already (both
   * before `onReady`, which says the follow has begun).
   */
  async follow(taskId: string, runId: string, after: number, to: Follower, signal: AbortSignal, onReady?: () => void): Promise<void> {
    await this.runOf(taskId, runId);
    if (this.followers >= MAX_FOLLOWERS) throw new ServiceUnavailableError("too_many_followers", `${MAX_FOLLOWERS} log followers are connected to this manager; retry later`);
    let last = after;
    let wake: (() => void) | undefined;
    const live: LogChunk[] = [];
    const offLog = this.ctx.events.on(["run.log"], (e) => {
      if (e.runId !== runId) return;
      live.push(e.chunk);
      wake?.();
    });
    const offEnd = this.ctx.events.on(["run.finished", "task.stopped", "runs.lost"], () => wake?.());
    const onAbort = () => wake?.();
    signal.addEventListener("abort", onAbort);
    this.followers++;
    try {
      onReady?.();
      for (;;) {
        // Replay from the store first (chunks that came before, or to another manager), then live.
        for (;;) {
          const page = await logStore.listLogChunks(this.ctx.db, runId, last, LOG_PAGE_MAX);
          for (const c of page) {
            to.chunk(view(c));
            last = c.seq;
          }
          if (page.length < LOG_PAGE_MAX) break;
        }
        while (live.length > 0) {
          const c = live.shift()!;
          if (c.seq <= last) continue;
          if (c.seq !== last + 1) break; // a gap: the store has it (or will); read it there
          to.chunk(c);
          last = c.seq;
        }
        if (signal.aborted) return;
        const run = await runStore.getRun(this.ctx.db, runId);
        if (!run || isTerminalRun(run.state)) {
          // The proplet sends its live output before its result: one last read catches the tail.
          for (const c of await logStore.listLogChunks(this.ctx.db, runId, last, LOG_PAGE_MAX)) to.chunk(view(c));
          to.end(run?.state ?? "stopped");
          return;
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, POLL_MS);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
    } finally {
      this.followers--;
      offLog();
      offEnd();
      signal.removeEventListener("abort", onAbort);
    }
  }

  private async runOf(taskId: string, runId: string): Promise<RunRecord> {
    const run = await runStore.getRun(this.ctx.db, runId);
    if (!run || run.taskId !== taskId) throw new NotFoundError("run_not_found", `task ${taskId} has no run ${runId}`);
    return run;
  }
}
