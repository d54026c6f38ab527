/** Tasks (filtered by state), one task with its runs, and the new-task form. */
import type { Run, Task } from "../../../protocol/api/index.js";
import { TASK_STATE_VALUES } from "../../../protocol/api/index.js";
import { html, seg, type Html } from "../html.js";
import { actionButton, stateBadge, when, type Viewer } from "../layout.js";

/** What a task's state allows, as the REST API's state machine does (docs/api.md). */
export function taskActions(viewer: Viewer, t: Task): Html {
  const run = t.latestRun;
  const active = run !== null && ["queued", "scheduled", "running"].includes(run.state);
  const base = `/ui/tasks/${seg(t.id)}`;
  if (active) return actionButton(viewer, `${base}/stop`, "Stop", "danger");
  return actionButton(viewer, `${base}/start`, run ? "Re-run" : "Start");
}

/** Tasks whose pending reason contains `text` (case-insensitive); "*" keeps every task that has one. */
export function withPendingReason(tasks: readonly Task[], text: string | undefined): readonly Task[] {
  if (!text) return tasks;
  const needle = text.toLowerCase();
  return tasks.filter((t) => t.pendingReason !== null && (needle === "*" || t.pendingReason.toLowerCase().includes(needle)));
}

export function tasksPage(viewer: Viewer, tasks: readonly Task[], filter: { state?: string; pending?: string }, nextCursor: string | null): Html {
  const next = nextCursor ? `/ui/tasks?${new URLSearchParams({ ...(filter.state ? { state: filter.state } : {}), ...(filter.pending ? { pending: filter.pending } : {}), cursor: nextCursor })}` : null;
  const shown = withPendingReason(tasks, filter.pending);
  return html`<form class="filter" method="get" action="/ui/tasks"><label>State <select name="state"><option value="">any</option>${TASK_STATE_VALUES.map((s) => html`<option value="${s}"${filter.state === s ? html` selected` : ""}>${s}</option>`)}</select></label>
<label>Pending reason <input type="search" name="pending" value="${filter.pending ?? ""}" maxlength="200" placeholder="contains… (* = any)"></label> <button type="submit">Filter</button></form>
${shown.length === 0 ? html`<p class="empty">No tasks${filter.state ? html` in state ${filter.state}` : ""}${filter.pending ? html` with a pending reason matching “${filter.pending}”` : ""}${filter.pending && tasks.length > 0 ? " on this page" : ""}.</p>` : html`<table id="tasks"><thead><tr><th>Task</th><th>State</th><th>Pending reason</th><th>Latest run</th><th>Proplet</th><th>Receipt</th><th>Updated</th><th></th></tr></thead><tbody>
${shown.map((t) => {
  const run = t.latestRun;
  return html`<tr data-task="${t.id}"><td><a href="/ui/tasks/${seg(t.id)}">${t.name}</a><br><code>${t.id}</code></td><td>${stateBadge(t.state)}</td><td>${t.pendingReason ?? ""}</td>
<td>${run ? html`<a href="/ui/tasks/${seg(t.id)}/runs/${seg(run.id)}">#${run.attempt}</a> ${stateBadge(run.state)}` : html`<span class="muted">never run</span>`}</td><td>${run?.propletId ? html`<code>${run.propletId}</code>` : ""}</td>
<td>${receiptBadge(run)}</td><td>${when(t.updatedAt)}</td><td>${taskActions(viewer, t)}</td></tr>`;
})}</tbody></table>`}
${next ? html`<p><a href="${next}">Older tasks →</a></p>` : ""}
${viewer.canSubmit ? newTaskForm(viewer) : ""}`;
}

export function receiptBadge(run: Run | null | undefined): Html {
  if (!run?.receiptCheck) return html`<span class="muted">—</span>`;
  const c = run.receiptCheck;
  return html`<span class="check ${c.ok ? "ok" : "bad"}" title="${c.reason}">${c.ok ? "verified" : "rejected"}${c.attested ? " · attested" : ""}</span>`;
}

const EXAMPLE = JSON.stringify({ name: "hello", artifact: { digest: "sha256:…", url: "https://…/hello.wasm" }, start: true }, null, 2);

function newTaskForm(viewer: Viewer): Html {
  return html`<details class="new-task"><summary>New task</summary>
<form method="post" action="/ui/tasks"><input type="hidden" name="csrf" value="${viewer.csrf}">
<p>The task as <code>POST /tasks</code> takes it (docs/api.md), as JSON.</p>
<textarea name="task" rows="10" cols="80" spellcheck="false" placeholder="${EXAMPLE}" required></textarea><br><button type="submit" data-action="submit">Submit</button></form></details>`;
}

export function taskPage(viewer: Viewer, t: Task, runs: readonly Run[]): Html {
  return html`<section class="task" data-task="${t.id}"><p>${stateBadge(t.state)} ${t.pendingReason ? html`<span class="pending">pending: ${t.pendingReason}</span>` : ""} ${taskActions(viewer, t)}</p>
<dl class="facts"><dt>id</dt><dd><code>${t.id}</code></dd><dt>runtime</dt><dd>${t.runtime}</dd><dt>artifact</dt><dd><code>${t.artifact.digest ?? ""}</code> ${t.artifact.location}</dd>
<dt>entrypoint</dt><dd>${t.entrypoint.kind === "wasi" ? "wasi" : `export ${t.entrypoint.name}`}</dd><dt>args</dt><dd><code>${t.args.join(" ")}</code></dd>
<dt>requirements</dt><dd>TEE ${t.requirements.tee ?? "any"}; tags ${t.requirements.tags.join(", ") || "none"}${t.target ? html`; target <code>${t.target}</code>` : ""}</dd>
<dt>confidential</dt><dd>${t.confidential ? "yes" : "no"}</dd><dt>schedule</dt><dd>${t.schedule ? html`<code>${t.schedule.cron}</code> ${t.schedule.timeZone}` : "—"}</dd>
<dt>created</dt><dd>${when(t.createdAt)}</dd><dt>updated</dt><dd>${when(t.updatedAt)}</dd></dl></section>
<h2>Runs</h2>${runs.length === 0 ? html`<p class="empty">No runs yet.</p>` : html`<table id="runs"><thead><tr><th>Attempt</th><th>State</th><th>Proplet</th><th>Deliveries</th><th>Started</th><th>Finished</th><th>Exit</th><th>Receipt</th></tr></thead><tbody>
${runs.map((r) => html`<tr data-run="${r.id}"><td><a href="/ui/tasks/${seg(t.id)}/runs/${seg(r.id)}">#${r.attempt}</a></td><td>${stateBadge(r.state)}</td><td>${r.propletId ? html`<code>${r.propletId}</code>` : ""}</td><td>${r.deliveries}</td><td>${when(r.startedAt)}</td><td>${when(r.finishedAt)}</td><td>${r.result?.exitCode ?? ""}</td><td>${receiptBadge(r)}</td></tr>`)}</tbody></table>`}`;
}
