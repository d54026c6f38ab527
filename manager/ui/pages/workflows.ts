/** Workflows and jobs: the list, and one of them as a graph (server-rendered SVG, no script). */
import type { Workflow, WorkflowNode } from "../../../protocol/api/index.js";
import { html, seg, type Html } from "../html.js";
import { actionButton, stateBadge, when, type Viewer } from "../layout.js";

const COL = 200;
const ROW = 64;
const BOX_W = 160;
const BOX_H = 40;
const PAD = 12;

/** Each node's column: the longest dependency chain above it (unknown or cyclic names end a chain). */
export function layers(nodes: readonly WorkflowNode[]): Map<string, number> {
  const byName = new Map(nodes.map((n) => [n.name, n] as const));
  const depth = new Map<string, number>();
  const visiting = new Set<string>();
  const visit = (name: string): number => {
    const known = depth.get(name);
    if (known !== undefined) return known;
    const node = byName.get(name);
    if (!node || visiting.has(name)) return -1;
    visiting.add(name);
    const d = 1 + Math.max(-1, ...node.dependsOn.map(visit));
    visiting.delete(name);
    depth.set(name, d);
    return d;
  };
  for (const n of nodes) visit(n.name);
  return depth;
}

/** The nodes as boxes in columns by depth, with an arrow from each dependency to its dependant. */
export function graphSvg(wf: Workflow): Html {
  const depth = layers(wf.nodes);
  const rows = new Map<number, number>();
  const pos = new Map<string, { x: number; y: number }>();
  for (const n of wf.nodes) {
    const col = wf.kind === "job" && wf.mode === "sequential" ? wf.nodes.indexOf(n) : (depth.get(n.name) ?? 0);
    const row = rows.get(col) ?? 0;
    rows.set(col, row + 1);
    pos.set(n.name, { x: PAD + col * COL, y: PAD + row * ROW });
  }
  const width = PAD * 2 + Math.max(...[...pos.values()].map((p) => p.x)) + BOX_W;
  const height = PAD * 2 + Math.max(...[...pos.values()].map((p) => p.y)) + BOX_H;
  const edges: Array<[string, string]> = wf.kind === "job" && wf.mode === "sequential" ? wf.nodes.slice(1).map((n, i) => [wf.nodes[i]!.name, n.name]) : wf.nodes.flatMap((n) => n.dependsOn.filter((d) => pos.has(d)).map((d) => [d, n.name] as [string, string]));
  return html`<svg class="graph" id="graph" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${wf.name}">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"></path></marker></defs>
${edges.map(([from, to]) => {
  const a = pos.get(from)!;
  const b = pos.get(to)!;
  return html`<line class="edge" x1="${a.x + BOX_W}" y1="${a.y + BOX_H / 2}" x2="${b.x}" y2="${b.y + BOX_H / 2}" marker-end="url(#arrow)"></line>`;
})}
${wf.nodes.map((n) => {
  const p = pos.get(n.name)!;
  const label = n.name.length > 22 ? `${n.name.slice(0, 21)}…` : n.name;
  const box = html`<g class="node node-${n.state}"><title>${n.name}: ${n.state}${n.reason ? ` (${n.reason})` : ""}</title><rect x="${p.x}" y="${p.y}" width="${BOX_W}" height="${BOX_H}" rx="6"></rect><text x="${p.x + 8}" y="${p.y + 17}">${label}</text><text class="sub" x="${p.x + 8}" y="${p.y + 32}">${n.state}</text></g>`;
  return n.taskId ? html`<a href="/ui/tasks/${seg(n.taskId)}">${box}</a>` : box;
})}
</svg>`;
}

export function workflowsPage(items: readonly Workflow[]): Html {
  if (items.length === 0) return html`<p class="empty">No workflows or jobs.</p>`;
  return html`<table id="workflows"><thead><tr><th>Name</th><th>Kind</th><th>State</th><th>Nodes</th><th>Created</th><th>Finished</th></tr></thead><tbody>
${items.map((w) => html`<tr><td><a href="/ui/${w.kind === "job" ? "jobs" : "workflows"}/${seg(w.id)}">${w.name}</a></td><td>${w.kind}${w.mode ? ` (${w.mode})` : ""}</td><td>${stateBadge(w.state)}</td><td>${w.nodes.length}</td><td>${when(w.createdAt)}</td><td>${when(w.finishedAt)}</td></tr>`)}</tbody></table>`;
}

export function workflowPage(viewer: Viewer, wf: Workflow): Html {
  const base = `/ui/${wf.kind === "job" ? "jobs" : "workflows"}/${seg(wf.id)}`;
  const active = wf.state === "running";
  return html`<p>${wf.kind}${wf.mode ? ` (${wf.mode})` : ""} ${stateBadge(wf.state)} ${wf.reason ?? ""} ${active ? actionButton(viewer, `${base}/stop`, "Stop", "danger") : actionButton(viewer, `${base}/start`, "Start")}</p>
<div class="graph-wrap">${graphSvg(wf)}</div>
<h2>Nodes</h2><ul class="nodes">${wf.nodes.map((n) => html`<li>${n.taskId ? html`<a href="/ui/tasks/${seg(n.taskId)}">${n.name}</a>` : n.name} ${stateBadge(n.state)}${n.dependsOn.length ? html` after ${n.dependsOn.join(", ")}` : ""} <span class="muted">run if ${n.runIf}, on failure ${n.onFailure}</span>${n.reason ? html` — ${n.reason}` : ""}</li>`)}</ul>`;
}
