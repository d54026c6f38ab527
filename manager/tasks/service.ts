/**
 * The task rules behind the REST API: create, update, delete, start, stop, read. Routes validate
 * and translate; this holds the rules; the store holds the SQL; state.ts decides every transition.
 */
import { randomUUID } from "node:crypto";
import { LIMITS, PropellerError } from "../../protocol/index.js";
import type { ManagerContext } from "../context.js";
import { stopMessage, startMessage } from "../dispatch/messages.js";
import { InvalidRequestError, NotFoundError } from "../errors.js";
import type { Task, TaskCreate, TaskPatch, Run } from "../http/schemas.js";
import * as artifactStore from "../store/artifacts.js";
import * as propletStore from "../store/proplets.js";
import * as runStore from "../store/runs.js";
import * as taskStore from "../store/tasks.js";
import type { CheckedArtifact } from "./artifact.js";
import { createArtifactResolver, type ArtifactResolver } from "../delivery/artifact-input.js";
import type { RunRecord, TaskRecord, TaskSpec } from "./model.js";
import { IllegalTransitionError, TASK_RULES, isActiveRun, type TaskState } from "./state.js";
import { queueRun, transitionRun } from "./transitions.js";
import { propletView, runView, taskView } from "./view.js";
import type { SqlExecutor } from "../../db/index.js";
import type { Proplet } from "../http/schemas.js";

const STOP_REASON = "stopped by request";

export class TaskService {
  private readonly artifacts: ArtifactResolver;
  constructor(private readonly ctx: ManagerContext) {
    this.artifacts = createArtifactResolver(ctx.config.delivery);
  }

  async create(input: TaskCreate): Promise<Task> {
    const artifact = await this.artifacts.resolve(this.ctx.db, input.artifact);
    const spec = buildSpec(input, artifact);
    checkFitsOneMessage(spec, artifact);
    const now = this.ctx.now();
    const id = randomUUID();
    const task = await this.ctx.db.transaction(async (tx) => {
      if (artifact.bytes) await artifactStore.putArtifact(tx, spec.artifact.digest, artifact.bytes);
      const created = await taskStore.insertTask(tx, { id, name: input.name, spec, now });
      if (!input.start) return created;
      await queueRun(tx, created, now);
      return (await taskStore.getTask(tx, id))!;
    });
    if (input.start) this.ctx.requestSchedule();
    return this.view(task);
  }

  async get(id: string): Promise<Task> {
    return this.view(await this.mustGet(this.ctx.db, id));
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
    const artifact = patch.artifact ? await this.artifacts.resolve(this.ctx.db, patch.artifact) : undefined;
    const now = this.ctx.now();
    const task = await this.ctx.db.transaction(async (tx) => {
      const current = await this.mustGet(tx, id, true);
      if (!TASK_RULES.canUpdate(current.state)) {
        throw new IllegalTransitionError("task", id, current.state, current.state, `a ${current.state} task cannot be changed; stop it first`);
      }
      const spec = mergeSpec(current.spec, patch, artifact);
      checkFitsOneMessage(spec, artifact);
      if (artifact?.bytes) await artifactStore.putArtifact(tx, spec.artifact.digest, artifact.bytes);
      const updated = (await taskStore.updateTaskSpec(tx, id, patch.name ?? current.name, spec, now))!;
      if (current.spec.artifact.digest !== spec.artifact.digest) await artifactStore.dropArtifactIfUnused(tx, current.spec.artifact.digest);
      return updated;
    });
    return this.view(task);
  }

  async delete(id: string, force: boolean): Promise<void> {
    const now = this.ctx.now();
    const stopped = await this.ctx.db.transaction(async (tx) => {
      const task = await this.mustGet(tx, id, true);
      const latest = task.latestRunId ? await runStore.getRun(tx, task.latestRunId) : null;
      let stoppedRun: RunRecord | null = null;
      if (latest && isActiveRun(latest.state)) {
        if (!force) {
          throw new IllegalTransitionError("task", id, task.state, "deleted", `stop it first or delete with ?force=true`);
        }
        stoppedRun = await transitionRun(tx, latest, "stopped", { finishedAt: now }, now);
      }
      await taskStore.deleteTask(tx, id);
      await artifactStore.dropArtifactIfUnused(tx, task.spec.artifact.digest);
      return stoppedRun;
    });
    if (stopped) await this.sendStop(stopped, "task deleted");
    this.ctx.requestSchedule();
  }

  async start(id: string): Promise<Task> {
    const now = this.ctx.now();
    const task = await this.ctx.db.transaction(async (tx) => {
      const current = await this.mustGet(tx, id, true);
      const latest = current.latestRunId ? await runStore.getRun(tx, current.latestRunId) : null;
      if (!TASK_RULES.canStart(latest?.state ?? null)) {
        throw new IllegalTransitionError("task", id, current.state, "pending", `its run ${latest!.id} is ${latest!.state}`);
      }
      await queueRun(tx, current, now);
      return (await taskStore.getTask(tx, id))!;
    });
    this.ctx.requestSchedule();
    return this.view(task);
  }

  async stop(id: string): Promise<Task> {
    const now = this.ctx.now();
    const { task, stopped } = await this.ctx.db.transaction(async (tx) => {
      const current = await this.mustGet(tx, id, true);
      const latest = current.latestRunId ? await runStore.getRun(tx, current.latestRunId) : null;
      if (!latest || !TASK_RULES.canStop(latest.state)) {
        throw new IllegalTransitionError("task", id, current.state, "stopped", latest ? `its latest run is already ${latest.state}` : "it was never started");
      }
      const wasActive = isActiveRun(latest.state);
      const run = await transitionRun(tx, latest, "stopped", { finishedAt: now }, now);
      if (!run) throw new IllegalTransitionError("task", id, current.state, "stopped", "its run changed meanwhile; try again");
      return { task: (await taskStore.getTask(tx, id))!, stopped: wasActive ? run : null };
    });
    if (stopped) await this.sendStop(stopped, STOP_REASON);
    this.ctx.requestSchedule();
    return this.view(task);
  }

  async runs(id: string): Promise<Run[]> {
    await this.mustGet(this.ctx.db, id);
    return (await runStore.listRuns(this.ctx.db, id)).map((r) => runView(r, this.ctx.endpoints.get(r.id)));
  }

  async run(id: string, runId: string): Promise<Run> {
    const run = await runStore.getRun(this.ctx.db, runId);
    if (!run || run.taskId !== id) throw new NotFoundError("run_not_found", `task ${id} has no run ${runId}`);
    return runView(run, this.ctx.endpoints.get(run.id));
  }

  async result(id: string): Promise<Run> {
    await this.mustGet(this.ctx.db, id);
    const run = await runStore.latestFinishedRun(this.ctx.db, id);
    if (!run) throw new NotFoundError("no_result", `task ${id} has no finished run yet`);
    return runView(run, this.ctx.endpoints.get(run.id));
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

  private async sendStop(run: RunRecord, reason: string): Promise<void> {
    if (!run.propletId) return;
    try {
      await this.ctx.publish(this.ctx.topics.proplet(run.propletId, "tasks/stop"), stopMessage(run.propletId, run.taskId, run.id, reason));
    } catch (err) {
      // The run is already stopped here; a proplet that never hears it will have its result ignored.
      this.ctx.log.warn({ runId: run.id, err: (err as Error).message }, "could not send task.stop");
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
  };
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
  };
}

/**
 * A task must fit in one task.start message (inline artifact, stdin, args and env together);
 * refused now rather than failing at dispatch. The artifact bytes are only needed for an inline
 * artifact being created; otherwise its stored size stands in.
 */
function checkFitsOneMessage(spec: TaskSpec, artifact: CheckedArtifact | undefined): void {
  checkSecretEnv(spec);
  const bytes = spec.artifact.location === "inline" ? (artifact?.bytes ?? Buffer.alloc(spec.artifact.size ?? 0)) : null;
  try {
    startMessage("size-check", "size-check", spec, { id: "size-check", attempt: 1, receiptNonce: "A".repeat(43) }, bytes);
  } catch (err) {
    if (err instanceof PropellerError && err.code === "too_large") {
      throw new InvalidRequestError("too_large", `the task does not fit in one task.start message: ${err.message}`);
    }
    throw new InvalidRequestError("invalid_task", `the task cannot be turned into a valid task.start: ${(err as Error).message}`);
  }
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
