/**
 * The task rules behind the REST API: create, update, delete, start, stop, read. Routes validate
 * and translate; this holds the rules; the store holds the SQL; state.ts decides every transition.
 */
import { randomUUID } from "node:crypto";
import { LIMITS } from "../../protocol/index.js";
import type { ManagerContext } from "../context.js";
import { stopMessage } from "../dispatch/messages.js";
import { InvalidRequestError, NotFoundError } from "../errors.js";
import type { Task, TaskCreate, TaskPatch, Run } from "../../protocol/api/index.js";
import * as propletStore from "../store/proplets.js";
import * as runStore from "../store/runs.js";
import * as taskStore from "../store/tasks.js";
import { openSpec, sealSpec } from "./secrets.js";
import { createArtifactDelivery, type ArtifactDelivery, type CheckedArtifact } from "../delivery/index.js";
import type { RunRecord, TaskRecord, TaskSpec } from "./model.js";
import { logIndexesOf } from "../tlog/store.js";
import { IllegalTransitionError, TASK_RULES, isActiveRun, type TaskState } from "./state.js";
import { transitionRun } from "./transitions.js";
import { startTaskRuns } from "../scheduler/start.js";
import { checkSchedule } from "../cron/schedule.js";
import { propletView, runView, taskView } from "./view.js";
import type { SqlExecutor } from "../../db/index.js";
import type { Proplet, PropletLiveness } from "../../protocol/api/index.js";
import { messageOf } from "../../lib/errors.js";
import { ATTR, SPAN } from "../../protocol/index.js";
import { inSpan } from "../../lib/tracing/spans.js";
import { managerTracer } from "../telemetry/tracing.js";

const STOP_REASON = "stopped by request";
/** States a waiting request answers at: nothing more happens to the task unless someone starts it. */
const SETTLED = new Set<TaskState>(["completed", "failed", "stopped"]);
/** How often a waiting request re-reads the task (for runs finished by another manager). */
const WAIT_POLL_MS = 250;

export class TaskService {
  private readonly delivery: ArtifactDelivery;
  constructor(private readonly ctx: ManagerContext) {
    this.delivery = createArtifactDelivery(ctx.config.delivery);
  }

  /** A task created over the API (traced: the runs it starts continue this span's trace). */
  create(input: TaskCreate, internal: { holdOutput?: "secagg" } = {}): Promise<Task> {
    return inSpan(managerTracer, SPAN.taskCreate, {}, async (span) => {
      const task = await this.createTask(input, internal);
      span.setAttribute(ATTR.taskId, task.id);
      return task;
    });
  }

  private async createTask(input: TaskCreate, internal: { holdOutput?: "secagg" }): Promise<Task> {
    const artifact = await this.delivery.accept(this.ctx.db, input.artifact);
    const plain: TaskSpec = { ...buildSpec(input, artifact), ...(internal.holdOutput ? { holdOutput: internal.holdOutput } : {}) };
    checkSecretEnv(plain);
    this.delivery.checkFitsOneStart(plain, artifact);
    const now = this.ctx.now();
    const nextTickAt = checkScheduling(plain, now);
    const id = randomUUID();
    // Checked in the clear, stored sealed: the row never holds a secret value.
    const spec = sealSpec(plain, id, this.ctx.secrets);
    const task = await this.ctx.db.transaction(async (tx) => {
      await this.delivery.keep(tx, artifact);
      const created = await taskStore.insertTask(tx, { id, name: input.name, spec, now, nextTickAt });
      if (!input.start) return created;
      await startTaskRuns(tx, created, now);
      return (await taskStore.getTask(tx, id))!;
    });
    if (input.start) this.ctx.events.emit({ type: "task.runnable", taskId: task.id });
    return this.view(task);
  }

  async get(id: string): Promise<Task> {
    return this.view(await this.mustGet(this.ctx.db, id));
  }

  /**
   * The task once it is settled (completed, failed or stopped), or as it is after `ms`, or when the
   * client hangs up. Woken by this manager's domain events, and re-read every WAIT_POLL_MS so a run
   * another manager finished is seen too.
   */
  async waitSettled(id: string, ms: number, client?: { once(event: "close", listener: () => void): unknown; off(event: "close", listener: () => void): unknown }): Promise<Task> {
    const deadline = Date.now() + ms;
    let task = await this.get(id);
    let wake: () => void = () => undefined;
    const off = this.ctx.events.on(["run.finished", "task.stopped", "runs.lost"], (e) => {
      if (!("taskId" in e) || e.taskId === undefined || e.taskId === id) wake();
    });
    let gone = false;
    const hangUp = () => {
      gone = true;
      wake();
    };
    client?.once("close", hangUp);
    try {
      while (!SETTLED.has(task.state) && !gone) {
        const left = deadline - Date.now();
        if (left <= 0) break;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(left, WAIT_POLL_MS));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        task = await this.get(id);
      }
      return task;
    } finally {
      off();
      client?.off("close", hangUp);
    }
  }

  async list(query: { state?: TaskState; limit?: number; cursor?: string }): Promise<{ items: Task[]; nextCursor: string | null }> {
    const limit = query.limit ?? 50;
    const afterSeq = query.cursor !== undefined ? decodeCursor(query.cursor) : undefined;
    const tasks = await taskStore.listTasks(this.ctx.db, { limit: limit + 1, ...(query.state ? { state: query.state } : {}), ...(afterSeq !== undefined ? { afterSeq } : {}) });
    const page = tasks.slice(0, limit);
    const runs = await runStore.getRuns(this.ctx.db, page.flatMap((t) => (t.latestRunId ? [t.latestRunId] : [])));
    const byId = new Map(runs.map((r) => [r.id, r]));
    return {
      items: page.map((t) => taskView(t, t.latestRunId ? (byId.get(t.latestRunId) ?? null) : null, this.ctx.endpoints)),
      nextCursor: tasks.length > limit ? encodeCursor(page[page.length - 1]!.seq) : null,
    };
  }

  async update(id: string, patch: TaskPatch): Promise<Task> {
    const artifact = patch.artifact ? await this.delivery.accept(this.ctx.db, patch.artifact) : undefined;
    const now = this.ctx.now();
    const task = await this.ctx.db.transaction(async (tx) => {
      const current = await this.mustGet(tx, id, true);
      if (!TASK_RULES.canUpdate(current.state)) {
        throw new IllegalTransitionError("task", id, current.state, current.state, `a ${current.state} task cannot be changed; stop it first`);
      }
      // New secret values replace the old ones whole; otherwise the stored ones are opened so the
      // merged task is checked (size included) as it will be sent.
      const base = patch.secretEnv !== undefined ? { ...current.spec, secretEnv: {}, sealedSecretEnv: null } : openSpec(current.spec, id, this.ctx.secrets);
      const plain = mergeSpec(base, patch, artifact);
      checkSecretEnv(plain);
      this.delivery.checkFitsOneStart(plain, artifact);
      const nextTickAt = checkScheduling(plain, now);
      const spec = sealSpec(plain, id, this.ctx.secrets);
      if (artifact) await this.delivery.keep(tx, artifact);
      // A changed schedule starts counting from now; an unchanged one keeps its next tick.
      const tick = patch.schedule !== undefined ? nextTickAt : undefined;
      const updated = (await taskStore.updateTaskSpec(tx, id, patch.name ?? current.name, spec, now, tick))!;
      if (current.spec.artifact.digest !== spec.artifact.digest) await this.delivery.release(tx, current.spec.artifact.digest);
      return updated;
    });
    return this.view(task);
  }

  async delete(id: string, force: boolean): Promise<void> {
    const now = this.ctx.now();
    const stopped = await this.ctx.db.transaction(async (tx) => {
      const task = await this.mustGet(tx, id, true);
      const active = (await currentRuns(tx, task)).filter((r) => isActiveRun(r.state));
      const stoppedRuns: RunRecord[] = [];
      if (active.length > 0 && !force) {
        throw new IllegalTransitionError("task", id, task.state, "deleted", `stop it first or delete with ?force=true`);
      }
      for (const run of active) {
        const done = await transitionRun(tx, run, "stopped", { finishedAt: now }, now);
        if (done) stoppedRuns.push(done);
      }
      await taskStore.deleteTask(tx, id);
      await this.delivery.release(tx, task.spec.artifact.digest);
      return stoppedRuns;
    });
    for (const run of stopped) await this.sendStop(run, "task deleted");
    this.ctx.events.emit({ type: "task.stopped", taskId: id });
  }

  /** A task started over the API (traced: its run's trace begins in this request). */
  start(id: string): Promise<Task> {
    return inSpan(managerTracer, SPAN.taskStart, { [ATTR.taskId]: id }, () => this.startTask(id));
  }

  private async startTask(id: string): Promise<Task> {
    const now = this.ctx.now();
    const task = await this.ctx.db.transaction(async (tx) => {
      const current = await this.mustGet(tx, id, true);
      const busy = (await currentRuns(tx, current)).find((r) => !TASK_RULES.canStart(r.state));
      if (busy) {
        throw new IllegalTransitionError("task", id, current.state, "pending", `its run ${busy.id} is ${busy.state}`);
      }
      await startTaskRuns(tx, current, now);
      return (await taskStore.getTask(tx, id))!;
    });
    this.ctx.events.emit({ type: "task.runnable", taskId: id });
    return this.view(task);
  }

  async stop(id: string): Promise<Task> {
    const now = this.ctx.now();
    const { task, stopped } = await this.ctx.db.transaction(async (tx) => {
      const current = await this.mustGet(tx, id, true);
      const runs = await currentRuns(tx, current);
      const open = runs.filter((r) => TASK_RULES.canStop(r.state));
      if (open.length === 0) {
        throw new IllegalTransitionError("task", id, current.state, "stopped", runs.length > 0 ? `its latest run is already ${runs[0]!.state}` : "it was never started");
      }
      const sent: RunRecord[] = [];
      for (const latest of open) {
        const wasActive = isActiveRun(latest.state);
        const run = await transitionRun(tx, latest, "stopped", { finishedAt: now }, now);
        if (!run) throw new IllegalTransitionError("task", id, current.state, "stopped", "its run changed meanwhile; try again");
        if (wasActive) sent.push(run);
      }
      return { task: (await taskStore.getTask(tx, id))!, stopped: sent };
    });
    for (const run of stopped) await this.sendStop(run, STOP_REASON);
    this.ctx.events.emit({ type: "task.stopped", taskId: id });
    return this.view(task);
  }

  async runs(id: string): Promise<Run[]> {
    await this.mustGet(this.ctx.db, id);
    return this.withLogIndex(await runStore.listRuns(this.ctx.db, id));
  }

  /** Run views with their receipts' transparency-log indexes (one query for all of them). */
  private async withLogIndex(runs: RunRecord[]): Promise<Run[]> {
    const indexes = await logIndexesOf(this.ctx.db, runs.filter((r) => r.receipt !== null).map((r) => r.id));
    return runs.map((r) => ({ ...runView(r, this.ctx.endpoints.get(r.id)), logIndex: indexes.get(r.id) ?? null }));
  }

  async run(id: string, runId: string): Promise<Run> {
    const run = await runStore.getRun(this.ctx.db, runId);
    if (!run || run.taskId !== id) throw new NotFoundError("run_not_found", `task ${id} has no run ${runId}`);
    return (await this.withLogIndex([run]))[0]!;
  }

  async result(id: string): Promise<Run> {
    await this.mustGet(this.ctx.db, id);
    const run = await runStore.latestFinishedRun(this.ctx.db, id);
    if (!run) throw new NotFoundError("no_result", `task ${id} has no finished run yet`);
    return (await this.withLogIndex([run]))[0]!;
  }

  async proplets(): Promise<Proplet[]> {
    const [proplets, load] = await Promise.all([propletStore.listProplets(this.ctx.db), runStore.loadByProplet(this.ctx.db)]);
    return proplets.map((p) => propletView(p, load.get(p.id) ?? 0));
  }

  async proplet(id: string): Promise<Proplet> {
    const p = await propletStore.getProplet(this.ctx.db, id);
    if (!p) throw new NotFoundError("proplet_not_found", `no proplet ${id}`);
    return propletView(p, (await runStore.activeRuns(this.ctx.db, id)).length);
  }

  /** GET /proplets/:id/liveness: its liveness changes, newest first. */
  async propletLiveness(id: string): Promise<PropletLiveness> {
    if (!(await propletStore.getProplet(this.ctx.db, id))) throw new NotFoundError("proplet_not_found", `no proplet ${id}`);
    const events = await propletStore.livenessHistory(this.ctx.db, id);
    return { items: events.map((e) => ({ event: e.event, reason: e.reason, at: e.at.toISOString() })) };
  }

  private async sendStop(run: RunRecord, reason: string): Promise<void> {
    if (!run.propletId) return;
    try {
      await this.ctx.publish(this.ctx.topics.proplet(run.propletId, "tasks/stop"), stopMessage(run.propletId, run.taskId, run.id, reason));
    } catch (err) {
      // The run is already stopped here; a proplet that never hears it will have its result ignored.
      this.ctx.log.warn({ runId: run.id, err: messageOf(err) }, "could not send task.stop");
    }
  }

  private async mustGet(db: SqlExecutor, id: string, forUpdate = false): Promise<TaskRecord> {
    const task = await taskStore.getTask(db, id, { forUpdate });
    if (!task) throw new NotFoundError("task_not_found", `no task ${id}`);
    return task;
  }

  private async view(task: TaskRecord): Promise<Task> {
    const latest = task.latestRunId ? await runStore.getRun(this.ctx.db, task.latestRunId) : null;
    return taskView(task, latest, this.ctx.endpoints);
  }
}

function buildSpec(input: TaskCreate, artifact: CheckedArtifact): TaskSpec {
  return {
    runtime: input.runtime ?? "wasi-p1",
    artifact: artifact.spec,
    entrypoint: input.entrypoint ?? { kind: "wasi" },
    args: input.args ?? [],
    env: input.env ?? {},
    secretEnv: input.secretEnv ?? {},
    stdin: input.stdin ?? "",
    limits: {
      timeoutMs: input.limits?.timeoutMs ?? LIMITS.timeoutMs,
      memoryBytes: input.limits?.memoryBytes ?? LIMITS.memoryBytes,
      outputBytes: input.limits?.outputBytes ?? LIMITS.outputBytes,
    },
    target: input.target ?? null,
    requirements: { tags: input.requirements?.tags ?? [], tee: teeRequirement(input.requirements?.tee ?? null, input.confidential ?? null) },
    onPropletLoss: input.onPropletLoss ?? "fail",
    confidential: input.confidential ?? null,
    grants: input.grants ?? null,
    priority: input.priority ?? 50,
    retry: retryPolicy(input.retry ?? null),
    broadcast: input.broadcast ?? false,
    schedule: cronSchedule(input.schedule ?? null),
  };
}

function retryPolicy(input: TaskCreate["retry"] | null): TaskSpec["retry"] {
  if (!input) return null;
  return { maxAttempts: input.maxAttempts, backoffMs: input.backoffMs ?? 1000, maxBackoffMs: input.maxBackoffMs ?? 300_000 };
}

function cronSchedule(input: TaskCreate["schedule"] | null): TaskSpec["schedule"] {
  if (!input) return null;
  return { cron: input.cron.trim(), timeZone: input.timeZone ?? "UTC", missed: input.missed ?? "skip" };
}

/** Contradictions between scheduling fields, refused with what to change; the next cron tick. */
function checkScheduling(spec: TaskSpec, now: Date): Date | null {
  if (spec.broadcast && spec.target !== null) {
    throw new InvalidRequestError("invalid_task", "a broadcast task runs on every matching proplet; drop target (or broadcast)");
  }
  if (spec.broadcast && spec.retry) throw new InvalidRequestError("invalid_task", "broadcast tasks are not retried; drop retry (or broadcast)");
  return spec.schedule ? checkSchedule(spec.schedule, now) : null;
}

/**
 * A confidential task can only run where its TEE can attest: its TEE is the placement requirement.
 * A different explicit requirement is a contradiction, refused rather than silently overridden.
 */
function teeRequirement(requested: TaskSpec["requirements"]["tee"], confidential: TaskSpec["confidential"]): TaskSpec["requirements"]["tee"] {
  if (!confidential) return requested;
  if (requested !== null && requested !== confidential.tee) {
    throw new InvalidRequestError("invalid_task", `requirements.tee is ${requested}, but the confidential workload's key is released to ${confidential.tee} TEEs`);
  }
  return confidential.tee;
}

function mergeSpec(current: TaskSpec, patch: TaskPatch, artifact: CheckedArtifact | undefined): TaskSpec {
  return {
    // Not patchable: a federated run's update must stay held on its proplet.
    ...(current.holdOutput ? { holdOutput: current.holdOutput } : {}),
    runtime: patch.runtime ?? current.runtime,
    artifact: artifact?.spec ?? current.artifact,
    entrypoint: patch.entrypoint ?? current.entrypoint,
    args: patch.args ?? current.args,
    env: patch.env ?? current.env,
    secretEnv: patch.secretEnv ?? current.secretEnv ?? {},
    stdin: patch.stdin ?? current.stdin,
    limits: { ...current.limits, ...(patch.limits ?? {}) },
    target: patch.target !== undefined ? patch.target : current.target,
    requirements: {
      tags: patch.requirements?.tags ?? current.requirements.tags,
      tee: teeRequirement(
        patch.requirements?.tee !== undefined ? patch.requirements.tee : patch.confidential !== undefined ? null : current.requirements.tee,
        patch.confidential !== undefined ? patch.confidential : (current.confidential ?? null),
      ),
    },
    onPropletLoss: patch.onPropletLoss ?? current.onPropletLoss,
    confidential: patch.confidential !== undefined ? patch.confidential : (current.confidential ?? null),
    grants: patch.grants !== undefined ? patch.grants : (current.grants ?? null),
    priority: patch.priority ?? current.priority ?? 50,
    retry: patch.retry !== undefined ? retryPolicy(patch.retry) : (current.retry ?? null),
    broadcast: patch.broadcast ?? current.broadcast ?? false,
    schedule: patch.schedule !== undefined ? cronSchedule(patch.schedule) : (current.schedule ?? null),
  };
}

/** Secret and plain variables share one environment: a name in both is ambiguous, refused (naming the names only). */
function checkSecretEnv(spec: TaskSpec): void {
  const secret = Object.keys(spec.secretEnv ?? {});
  const both = secret.filter((name) => Object.hasOwn(spec.env, name));
  if (both.length > 0) throw new InvalidRequestError("invalid_task", `env and secretEnv both set ${both.join(", ")}; set each variable in one of them`);
  const count = Object.keys(spec.env).length + secret.length;
  if (count > LIMITS.envVars) throw new InvalidRequestError("invalid_task", `env and secretEnv together have ${count} variables; at most ${LIMITS.envVars}`);
}

export function encodeCursor(seq: number): string {
  return Buffer.from(`t:${seq}`).toString("base64url");
}

export function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, "base64url").toString("utf8");
  const match = /^t:(\d{1,15})$/.exec(text);
  if (!match) throw new InvalidRequestError("invalid_cursor", "cursor is not one this server issued");
  return Number(match[1]);
}

/** The runs of a task's latest start: its latest run, or every run of its latest broadcast fan-out. */
export async function currentRuns(db: SqlExecutor, task: TaskRecord): Promise<RunRecord[]> {
  const latest = task.latestRunId ? await runStore.getRun(db, task.latestRunId) : null;
  if (!latest) return [];
  return latest.groupId ? runStore.groupRuns(db, latest.groupId) : [latest];
}
