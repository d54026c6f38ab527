/** Fleet: every proplet with its TEE, attestation state, load, memory, last heartbeat and liveness. */
import type { Proplet } from "../../../protocol/api/index.js";
import { html, type Html } from "../html.js";
import { bytes, stateBadge, when } from "../layout.js";

/** A proplet's latest attested receipt, as the manager checked it (store.ts reads it). */
export interface Attestation {
  runId: string;
  taskId: string;
  at: string | null;
  ok: boolean;
}

/** One liveness change of a proplet (store.ts reads them, newest first). */
export interface LivenessChange {
  event: "online" | "gone";
  reason: string | null;
  at: string;
}

function history(changes: readonly LivenessChange[] | undefined): Html {
  if (!changes || changes.length === 0) return html`<span class="muted">—</span>`;
  return html`<ol class="history">${changes.map((c) => html`<li>${stateBadge(c.event === "online" ? "alive" : "offline")} ${when(c.at)}${c.reason ? html` <span class="muted">${c.reason}</span>` : ""}</li>`)}</ol>`;
}

/** `propeller_fleet_free_memory_bytes{proplet="…"} N` lines of the manager's /metrics, by proplet id. */
export function freeMemoryOf(metricsText: string): Map<string, number> {
  const out = new Map<string, number>();
  const line = /^propeller_fleet_free_memory_bytes\{proplet="((?:[^"\\]|\\.)*)"\} ([0-9.eE+-]+)$/;
  for (const l of metricsText.split("\n")) {
    const m = line.exec(l);
    if (m) out.set(m[1]!.replace(/\\(.)/g, (_s, c: string) => (c === "n" ? "\n" : c)), Number(m[2]));
  }
  return out;
}

export function fleetPage(proplets: readonly Proplet[], attested: Map<string, Attestation>, freeMemory: Map<string, number>, liveness: Map<string, LivenessChange[]> = new Map()): Html {
  if (proplets.length === 0) return html`<p class="empty" data-refresh="15">No proplet has announced itself yet.</p>`;
  const alive = proplets.filter((p) => p.alive).length;
  return html`<p class="summary" data-refresh="15"><strong>${alive}</strong> of ${proplets.length} proplets alive <span class="muted">(refreshed every 15 s)</span>.</p>
<table id="fleet"><thead><tr><th>Proplet</th><th>Liveness</th><th>TEE</th><th>Attestation</th><th>Load</th><th>Memory (free / offered)</th><th>Runtimes</th><th>Tags</th><th>Last heartbeat</th><th>Connected</th><th>Liveness history</th></tr></thead><tbody>
${proplets.map((p) => {
  const a = attested.get(p.id);
  const tee = p.capabilities.tee?.type ?? null;
  const load = p.capabilities.maxConcurrency > 0 ? Math.round((100 * p.running) / p.capabilities.maxConcurrency) : 0;
  const attestation = !tee
    ? html`<span class="muted">no TEE</span>`
    : a
      ? html`<a href="/ui/tasks/${encodeURIComponent(a.taskId)}/runs/${encodeURIComponent(a.runId)}">${a.ok ? "attested" : "attestation failed"}</a> ${when(a.at)}`
      : html`<span class="muted">no attested run yet</span>`;
  return html`<tr data-proplet="${p.id}"><td><strong>${p.name}</strong><br><code>${p.id}</code></td><td>${stateBadge(p.alive ? "alive" : "offline")}</td><td>${tee ?? "—"}</td><td>${attestation}</td>
<td><meter min="0" max="100" value="${load}" title="${p.running} of ${p.capabilities.maxConcurrency} slots"></meter> ${p.running}/${p.capabilities.maxConcurrency}</td>
<td>${bytes(freeMemory.get(p.id))} / ${bytes(p.capabilities.memoryBytes)}</td><td>${p.capabilities.runtimes.join(", ")}</td><td>${p.capabilities.tags.join(", ")}</td><td>${when(p.lastSeenAt)}</td><td>${when(p.connectedAt)}</td><td>${history(liveness.get(p.id))}</td></tr>`;
})}
</tbody></table>`;
}
