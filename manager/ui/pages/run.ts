/**
 * One run: its timeline, live output (client JS follows the logs stream), result, and receipt with
 * the manager's verification of it and the claims of the receipt and of its attestation token.
 * Claims are decoded for display only; the verdict shown is the manager's check (receiptCheck),
 * which verified the signatures when the result came in.
 */
import { decodeJwt, decodeProtectedHeader } from "jose";
import type { Run, Task } from "../../../protocol/api/index.js";
import { html, seg, type Html } from "../html.js";
import { stateBadge, when, type Viewer } from "../layout.js";
import { taskActions } from "./tasks.js";

export interface Decoded {
  header: Record<string, unknown> | null;
  claims: Record<string, unknown> | null;
  error: string | null;
}

/** A compact JWS/JWT's protected header and payload, without verifying anything. */
export function decodeToken(token: string | null | undefined): Decoded | null {
  if (!token) return null;
  try {
    return { header: decodeProtectedHeader(token) as Record<string, unknown>, claims: decodeJwt(token) as Record<string, unknown>, error: null };
  } catch (err) {
    return { header: null, claims: null, error: err instanceof Error ? err.message : String(err) };
  }
}

/** Claims as a definition list; nested objects as indented JSON (escaped like everything else). */
function claimsList(claims: Record<string, unknown>, id: string): Html {
  return html`<dl class="claims" id="${id}">${Object.entries(claims).map(([k, v]) => html`<dt>${k}</dt><dd>${typeof v === "object" && v !== null ? html`<pre>${JSON.stringify(v, null, 2)}</pre>` : html`<code>${String(v)}</code>`}${timeHint(k, v)}</dd>`)}</dl>`;
}

function timeHint(key: string, value: unknown): Html {
  if (!["iat", "exp", "nbf"].includes(key) || typeof value !== "number") return html``;
  return html` <span class="muted">(${new Date(value * 1000).toISOString()})</span>`;
}

export function runPage(viewer: Viewer, task: Task, run: Run): Html {
  const logsUrl = `/ui/tasks/${seg(task.id)}/runs/${seg(run.id)}/logs`;
  const active = ["queued", "scheduled", "running"].includes(run.state);
  return html`<p><a href="/ui/tasks/${seg(task.id)}">← ${task.name}</a> · attempt #${run.attempt} ${stateBadge(run.state)} ${task.latestRun?.id === run.id ? taskActions(viewer, task) : ""}</p>
<dl class="facts"><dt>run</dt><dd><code>${run.id}</code></dd><dt>proplet</dt><dd>${run.propletId ? html`<code>${run.propletId}</code>` : "—"}</dd><dt>deliveries</dt><dd>${run.deliveries}</dd>
<dt>created</dt><dd>${when(run.createdAt)}</dd><dt>dispatched</dt><dd>${when(run.dispatchedAt)}</dd><dt>accepted</dt><dd>${when(run.acceptedAt)}</dd><dt>started</dt><dd>${when(run.startedAt)}</dd><dt>finished</dt><dd>${when(run.finishedAt)}</dd>
${run.endpoint ? html`<dt>endpoint</dt><dd><code>${run.endpoint}</code></dd>` : ""}${run.logIndex !== undefined && run.logIndex !== null ? html`<dt>transparency log</dt><dd>entry ${run.logIndex}</dd>` : ""}</dl>
<h2>Live output</h2>
<pre id="log" class="log" data-stream="${logsUrl}/stream" data-state="${run.state}" aria-live="polite">${active ? "" : html`<span class="muted">(loading stored output…)</span>`}</pre><p id="log-state" class="muted"></p>
${resultSection(run)}
${receiptSection(task, run)}`;
}

function resultSection(run: Run): Html {
  const r = run.result;
  if (!r) return html``;
  return html`<h2>Result</h2><dl class="facts"><dt>exit code</dt><dd>${r.exitCode ?? "—"}</dd>${r.returnValues ? html`<dt>return values</dt><dd><code>${JSON.stringify(r.returnValues)}</code></dd>` : ""}${r.returnWave !== undefined ? html`<dt>return (WAVE)</dt><dd><code>${r.returnWave}</code></dd>` : ""}
${r.error ? html`<dt>error</dt><dd class="bad"><code>${r.error.code}</code> ${r.error.message}</dd>` : ""}</dl>
<h3>stdout${r.stdoutTruncated ? " (truncated)" : ""}</h3><pre class="output" id="stdout">${r.stdout}</pre>
${r.stderr ? html`<h3>stderr${r.stderrTruncated ? " (truncated)" : ""}</h3><pre class="output" id="stderr">${r.stderr}</pre>` : ""}`;
}

function receiptSection(task: Task, run: Run): Html {
  const check = run.receiptCheck;
  const receipt = decodeToken(run.receipt);
  if (!check && !receipt) return html`<h2>Receipt</h2><p class="empty">No receipt yet.</p>`;
  const ear = decodeToken(typeof receipt?.claims?.earToken === "string" ? receipt.claims.earToken : null);
  const claims = receipt?.claims ? Object.fromEntries(Object.entries(receipt.claims).filter(([k]) => k !== "earToken")) : null;
  return html`<h2 id="receipt">Receipt</h2>
${check ? html`<p class="verdict ${check.ok ? "ok" : "bad"}" id="receipt-verdict"><strong>${check.ok ? "Verified" : "Rejected"}</strong> by the manager${check.attested ? " · attested" : " · not attested"}${check.reason ? `: ${check.reason}` : ""}</p>
<table id="receipt-checks"><thead><tr><th>Check</th><th>Result</th><th>Detail</th></tr></thead><tbody>${check.checks.map((c) => html`<tr><td><code>${c.name}</code></td><td class="${c.ok ? "ok" : "bad"}">${c.ok ? "pass" : "fail"}</td><td>${c.detail}</td></tr>`)}</tbody></table>` : html`<p class="muted">The manager has not checked this receipt.</p>`}
${receipt?.error ? html`<p class="bad">The receipt cannot be decoded: ${receipt.error}</p>` : ""}
${receipt?.header ? html`<h3>Receipt header</h3>${claimsList(receipt.header, "receipt-header")}` : ""}
${claims ? html`<h3>Receipt claims</h3>${claimsList(claims, "receipt-claims")}` : ""}
${ear ? html`<h3>Attestation token (EAR) claims</h3>${ear.error ? html`<p class="bad">${ear.error}</p>` : ""}${ear.header ? claimsList(ear.header, "ear-header") : ""}${ear.claims ? claimsList(ear.claims, "ear-claims") : ""}` : html`<p class="muted">No attestation token in this receipt (an unattested run).</p>`}
<p><a href="/ui/tasks/${seg(task.id)}/runs/${seg(run.id)}/receipt.jws" download="receipt-${run.id}.jws">Download the receipt</a> for <code>propeller receipt verify</code>.</p>`;
}
