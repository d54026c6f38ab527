/** Cron schedules, functions, KBS audit, and the sign-in page. */
import type { FunctionView, ScheduleState, Task } from "../../../protocol/api/index.js";
import { html, seg, type Html } from "../html.js";
import { stateBadge, when } from "../layout.js";

export function cronPage(rows: ReadonlyArray<{ task: Task; schedule: ScheduleState | null }>, more: boolean): Html {
  const note = html`<p class="muted">Tasks with a cron schedule, soonest tick first${more ? ` (the first ${rows.length} shown)` : ""}.</p>`;
  if (rows.length === 0) return html`${note}<p class="empty">No task has a cron schedule.</p>`;
  return html`${note}<table id="cron"><thead><tr><th>Task</th><th>Cron</th><th>Time zone</th><th>Missed ticks</th><th>Next tick (UTC)</th><th>Last run</th></tr></thead><tbody>
${rows.map(({ task: t, schedule: s }) => html`<tr><td><a href="/ui/tasks/${seg(t.id)}">${t.name}</a></td><td><code>${t.schedule?.cron ?? ""}</code></td><td>${t.schedule?.timeZone ?? ""}</td><td>${t.schedule?.missed ?? ""}</td><td>${when(s?.nextTickAt)}</td><td>${t.latestRun ? html`${stateBadge(t.latestRun.state)} ${when(t.latestRun.finishedAt ?? t.latestRun.createdAt)}` : html`<span class="muted">never</span>`}</td></tr>`)}</tbody></table>`;
}

export function functionsPage(items: readonly FunctionView[]): Html {
  if (items.length === 0) return html`<p class="empty">No functions deployed.</p>`;
  return html`<table id="functions"><thead><tr><th>Name</th><th>Export</th><th>Replicas</th><th>Instances</th><th>Generation</th><th>Placements</th><th>Created</th></tr></thead><tbody>
${items.map((f) => html`<tr><td><strong>${f.name}</strong><br><code>${f.id}</code></td><td><code>${f.export}</code></td><td>${f.replicas}</td><td>${f.instances}</td><td>${f.generation}</td><td><ul class="plain">${f.placements.map((p) => html`<li><code>${p.propletId}</code> ${stateBadge(p.state)}${p.error ? html` <span class="bad">${p.error}</span>` : ""}</li>`)}</ul></td><td>${when(f.createdAt)}</td></tr>`)}</tbody></table>`;
}

export interface AuditEntry {
  id?: unknown;
  at?: unknown;
  event?: unknown;
  outcome?: unknown;
  actor?: unknown;
  subject?: unknown;
  reason?: unknown;
  client?: unknown;
}

export const AUDIT_EVENTS = ["auth", "attest", "release", "deny", "admin"] as const;

export function kbsPage(state: { configured: false } | { configured: true; url: string; entries: readonly AuditEntry[] | null; error: string | null; event?: string | undefined }): Html {
  if (!state.configured) return html`<p class="empty">No KBS configured for the dashboard. Set <code>ui.kbs</code> (<code>PROPELLER_UI_KBS_URL</code> and an admin key or token) to see the KBS's audit log here.</p>`;
  return html`<p>Audit log of <code>${state.url}</code>, newest first.</p>
<form class="filter" method="get" action="/ui/kbs"><label>Event <select name="event"><option value="">any</option>${AUDIT_EVENTS.map((e) => html`<option value="${e}"${state.event === e ? html` selected` : ""}>${e}</option>`)}</select></label> <button type="submit">Filter</button></form>
${state.error ? html`<p class="flash error" role="alert">${state.error}</p>` : ""}
${state.entries && state.entries.length === 0 ? html`<p class="empty">No audit entries.</p>` : ""}
${state.entries && state.entries.length > 0 ? html`<table id="kbs-audit"><thead><tr><th>#</th><th>At</th><th>Event</th><th>Outcome</th><th>Actor</th><th>Subject</th><th>Reason</th><th>Client</th></tr></thead><tbody>
${state.entries.map((e) => html`<tr><td>${text(e.id)}</td><td>${when(typeof e.at === "string" ? e.at : null)}</td><td>${text(e.event)}</td><td class="${e.outcome === "ok" ? "ok" : "bad"}">${text(e.outcome)}</td><td><code>${text(e.actor)}</code></td><td><code>${text(e.subject)}</code></td><td>${text(e.reason)}</td><td>${text(e.client)}</td></tr>`)}</tbody></table>` : ""}`;
}

/** A value from another service, shown as text whatever its type. */
function text(v: unknown): string {
  return v === null || v === undefined ? "" : typeof v === "string" ? v : JSON.stringify(v);
}

export function loginPage(message: string | undefined, next = "/ui/fleet"): Html {
  return html`${message ? html`<p class="flash error" role="alert">${message}</p>` : ""}
<form class="login" method="post" action="/ui/login"><input type="hidden" name="next" value="${next}"><label for="credential">API key</label>
<input id="credential" name="credential" type="password" autocomplete="off" required maxlength="3500" placeholder="prop_…"><button type="submit">Sign in</button></form>
<p class="muted">Paste an API key (<code>propeller apikey create</code>) or a token from the configured issuer. A key with the <code>read</code> scope sees everything; <code>submit</code> can also start, stop and re-run. The key is kept in an HttpOnly cookie for this browser session only.</p>`;
}
