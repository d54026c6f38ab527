/** The page shell every dashboard page shares: navigation, who is signed in, sign-out. */
import { html, uiHref, type Html } from "./html.js";

/** Who is looking at a page and what they may do (from their credential's scopes). */
export interface Viewer {
  id: string;
  scopes: readonly string[];
  canSubmit: boolean;
  csrf: string;
}

export const NAV: ReadonlyArray<readonly [string, string]> = [
  ["/ui/fleet", "Fleet"],
  ["/ui/tasks", "Tasks"],
  ["/ui/workflows", "Workflows & jobs"],
  ["/ui/cron", "Cron"],
  ["/ui/functions", "Functions"],
  ["/ui/kbs", "KBS audit"],
];

export function page(title: string, viewer: Viewer | null, body: Html, current = ""): string {
  const nav = viewer
    ? html`<nav><span class="brand">Propeller</span>${NAV.map(([href, label]) => html`<a href="${uiHref(href)}"${current === href ? html` aria-current="page"` : ""}>${label}</a>`)}
<form class="who" method="post" action="/ui/logout"><input type="hidden" name="csrf" value="${viewer.csrf}"><span title="credential id">${viewer.id}</span> <span class="scopes">${viewer.scopes.join(", ")}</span>${viewer.canSubmit ? "" : html` <span class="badge">read-only</span>`} <button type="submit">Sign out</button></form></nav>`
    : html`<nav><span class="brand">Propeller</span></nav>`;
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Propeller</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/ui/static/app.css"><script src="/ui/static/app.js" defer></script></head>
<body>${nav}<main><h1>${title}</h1>${body}</main></body></html>`.text;
}

/** A form button for a state-changing action, carrying the session's CSRF token. */
export function actionButton(viewer: Viewer, action: string, label: string, extraClass = ""): Html {
  if (!viewer.canSubmit) return html``;
  return html`<form class="inline" method="post" action="${uiHref(action)}"><input type="hidden" name="csrf" value="${viewer.csrf}"><button type="submit" class="${extraClass}" data-action="${label.toLowerCase()}">${label}</button></form>`;
}

export function flash(message: string | undefined, kind: "error" | "ok" = "error"): Html {
  return message ? html`<p class="flash ${kind}" role="${kind === "error" ? "alert" : "status"}">${message}</p>` : html``;
}

/** ISO time → short readable UTC, with the exact value in the tooltip. */
export function when(iso: string | null | undefined): Html {
  if (!iso) return html`<span class="muted">—</span>`;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return html`${iso}`;
  return html`<time datetime="${iso}" title="${iso}">${d.toISOString().replace("T", " ").slice(0, 19)}</time>`;
}

export function stateBadge(state: string | null | undefined): Html {
  return state ? html`<span class="state state-${state}">${state}</span>` : html`<span class="muted">—</span>`;
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}
