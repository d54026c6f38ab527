/**
 * Workflows and jobs behind the REST API: create (every node's task is created, not started;
 * the graph is checked first), start, get, list, stop. A job is a workflow of kind "job" whose
 * graph is derived from its mode: parallel (no edges) or sequential (a chain, each task after the
 * previous one succeeded; a failure skips the rest).
 */
import { randomUUID } from "node:crypto";
import type { ManagerContext } from "../context.js";
import { ConflictError, InvalidRequestError, NotFoundError } from "../errors.js";
import type { JobCreate, Workflow, WorkflowCreate } from "../../protocol/api/index.js";
import type { TaskService } from "../tasks/service.js";
import { checkGraph } from "./graph.js";
import * as store from "./store.js";

type NodeInput = WorkflowCreate["nodes"][number];

export class WorkflowService {
  constructor(
    private readonly ctx: ManagerContext,
    private readonly tasks: TaskService,
    /** Asks for an advancement pass soon (coalesced). */
    private readonly requestAdvance: () => void,
  ) {}

  async createWorkflow(input: WorkflowCreate): Promise<Workflow> {
    return this.create("workflow", input.name, null, input.nodes, input.start === true);
  }

  async createJob(input: JobCreate): Promise<Workflow> {
    const nodes: NodeInput[] = input.tasks.map((t, i) => ({
      name: t.name,
      task: t.task,
      dependsOn: input.mode === "sequential" && i > 0 ? [input.tasks[i - 1]!.name] : [],
    }));
    return this.create("job", input.name, input.mode, nodes, input.start === true);
  }

  private async create(kind: store.WorkflowKind, name: string, mode: store.WorkflowRecord["mode"], nodes: NodeInput[], start: boolean): Promise<Workflow> {
    checkGraph(nodes.map((n) => ({ name: n.name, dependsOn: n.dependsOn ?? [] })));
    for (const n of nodes) {
      if (n.task.schedule) throw new InvalidRequestError("invalid_workflow", `node "${n.name}": a ${kind}'s tasks are started by the ${kind}; drop schedule`);
      if (n.task.broadcast) throw new InvalidRequestError("invalid_workflow", `node "${n.name}": broadcast tasks cannot be ${kind} nodes`);
    }
    // Each task is created (and checked) first; should one be refused, those made are removed.
    const taskIds: string[] = [];
    try {
      for (const n of nodes) {
        const task = await this.tasks.create({ ...n.task, name: n.task.name ?? `${name}/${n.name}`, start: false });
        taskIds.push(task.id);
      }
    } catch (err) {
      for (const id of taskIds) await this.tasks.delete(id, true).catch(() => undefined);
      if (err instanceof InvalidRequestError) throw new InvalidRequestError(err.code, `node "${nodes[taskIds.length]!.name}": ${err.message}`);
      throw err;
    }
    const id = randomUUID();
    const now = this.ctx.now();
    await this.ctx.db.transaction(async (tx) => {
      await store.insertWorkflow(tx, { id, kind, name, mode, now });
      for (const [i, n] of nodes.entries()) {
        await store.insertNode(tx, {
          workflowId: id,
          position: i,
          name: n.name,
          taskId: taskIds[i]!,
          dependsOn: n.dependsOn ?? [],
          runIf: n.runIf ?? "success",
          onFailure: n.onFailure ?? "skip-dependants",
          passResults: n.passResults ?? "none",
        });
      }
    });
    return start ? this.start(kind, id) : this.get(kind, id);
  }

  async start(kind: store.WorkflowKind, id: string): Promise<Workflow> {
    const now = this.ctx.now();
    await this.ctx.db.transaction(async (tx) => {
      const wf = await store.getWorkflow(tx, id, { forUpdate: true, kind });
      if (!wf) throw notFound(kind, id);
      if (wf.state !== "created") throw new ConflictError("illegal_transition", `${kind} ${id} is ${wf.state}; only a created ${kind} can start (create a new one to run it again)`);
      await store.setWorkflowState(tx, id, { state: "running", now, startedAt: now });
    });
    this.requestAdvance();
    return this.get(kind, id);
  }

  /** Stops the workflow: waiting nodes end stopped, running nodes' tasks are stopped. */
  async stop(kind: store.WorkflowKind, id: string): Promise<Workflow> {
    const now = this.ctx.now();
    const running = await this.ctx.db.transaction(async (tx) => {
      const wf = await store.getWorkflow(tx, id, { forUpdate: true, kind });
      if (!wf) throw notFound(kind, id);
      if (wf.state !== "running" && wf.state !== "created") throw new ConflictError("illegal_transition", `${kind} ${id} is already ${wf.state}`);
      const nodes = await store.listNodes(tx, id);
      for (const n of nodes) {
        if (n.state === "waiting" || n.state === "running") await store.setNodeState(tx, id, n.name, { state: "stopped", reason: "stopped by request", finishedAt: now });
      }
      await store.setWorkflowState(tx, id, { state: "stopped", reason: "stopped by request", now, finishedAt: now });
      return nodes.filter((n) => n.state === "running" && n.taskId).map((n) => n.taskId!);
    });
    // After the commit (one connection on PGlite): each task stop is its own transaction.
    for (const taskId of running) await this.tasks.stop(taskId).catch(() => undefined);
    return this.get(kind, id);
  }

  async get(kind: store.WorkflowKind, id: string): Promise<Workflow> {
    const wf = await store.getWorkflow(this.ctx.db, id, { kind });
    if (!wf) throw notFound(kind, id);
    return view(wf, await store.listNodes(this.ctx.db, id));
  }

  async list(kind: store.WorkflowKind, q: { state?: store.WorkflowState; limit?: number; cursor?: string }): Promise<{ items: Workflow[]; nextCursor: string | null }> {
    const limit = q.limit ?? 50;
    const afterSeq = q.cursor !== undefined ? decodeCursor(q.cursor) : undefined;
    const rows = await store.listWorkflows(this.ctx.db, { kind, limit: limit + 1, ...(q.state ? { state: q.state } : {}), ...(afterSeq !== undefined ? { afterSeq } : {}) });
    const page = rows.slice(0, limit);
    const nodes = await store.nodesOf(this.ctx.db, page.map((w) => w.id));
    return {
      items: page.map((w) => view(w, nodes.filter((n) => n.workflowId === w.id))),
      nextCursor: rows.length > limit ? Buffer.from(`w:${page[page.length - 1]!.seq}`).toString("base64url") : null,
    };
  }
}

function notFound(kind: store.WorkflowKind, id: string): NotFoundError {
  return new NotFoundError(kind === "job" ? "job_not_found" : "workflow_not_found", `no ${kind} ${id}`);
}

function decodeCursor(cursor: string): number {
  const match = /^w:(\d{1,15})$/.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  if (!match) throw new InvalidRequestError("invalid_cursor", "cursor is not one this server issued");
  return Number(match[1]);
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

function view(wf: store.WorkflowRecord, nodes: store.NodeRecord[]): Workflow {
  return {
    id: wf.id,
    kind: wf.kind,
    name: wf.name,
    mode: wf.mode,
    state: wf.state,
    reason: wf.reason,
    createdAt: wf.createdAt.toISOString(),
    startedAt: iso(wf.startedAt),
    finishedAt: iso(wf.finishedAt),
    nodes: nodes.map((n) => ({
      name: n.name,
      taskId: n.taskId,
      dependsOn: n.dependsOn,
      runIf: n.runIf,
      onFailure: n.onFailure,
      passResults: n.passResults,
      state: n.state,
      reason: n.reason,
      startedAt: iso(n.startedAt),
      finishedAt: iso(n.finishedAt),
    })),
  };
}
