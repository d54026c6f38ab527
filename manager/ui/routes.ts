/**
 * The operator dashboard at /ui: server-rendered pages over the manager's own REST API (in process,
 * with the signed-in user's credential, see api.ts), a little script and a stylesheet served from
 * manager/ui/static, and the browser-facing rules of security.ts.
 *
 * The REST gate (auth/hook.ts) reads only `Authorization`, which a browser does not send when it
 * follows a link, so these routes are public to that gate and guarded here instead: the session
 * cookie's credential is authenticated by the same Authenticator and counted by the same failure
 * limiter on every request, and everything a page reads or does goes through the REST routes and
 * their scope checks. The routes are hidden from the OpenAPI document (they are HTML, not API).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import cookie from "@fastify/cookie";
import { LOG_SEQ_MAX } from "../../protocol/api/index.js";
import type { FunctionList, LogList, Proplet, PropletList, Run, RunList, ScheduleState, Task, TaskList, Workflow, WorkflowList } from "../../protocol/api/index.js";
import type { Gate } from "../auth/hook.js";
import type { Principal } from "../auth/authenticate.js";
import { grants } from "../auth/scopes.js";
import { TooManyFailuresError, UnauthorizedError } from "../errors.js";
import { messageOf } from "../../lib/errors.js";
import { ApiError, UiApi } from "./api.js";
import { html, seg, uiHref, type Html } from "./html.js";
import { page, flash, type Viewer } from "./layout.js";
import { KbsAudit, type KbsAuditSettings } from "./kbs.js";
import { fleetLiveness, latestAttestations, scheduledTaskIds } from "./store.js";
import type { SqlExecutor } from "../../db/index.js";
import { MAX_CREDENTIAL_CHARS, SESSION_COOKIE, csrfMatches, csrfToken, sameOrigin, securityHeaders, sessionCookieOptions } from "./security.js";
import { fleetPage, freeMemoryOf } from "./pages/fleet.js";
import { taskPage, tasksPage } from "./pages/tasks.js";
import { runPage } from "./pages/run.js";
import { workflowPage, workflowsPage } from "./pages/workflows.js";
import { AUDIT_EVENTS, cronPage, functionsPage, kbsPage, loginPage } from "./pages/misc.js";

export interface UiOptions {
  gate: Gate;
  /** The manager's database, for the two bounded reads the REST API has no route for (store.ts). */
  db?: SqlExecutor | null;
  /** Secure cookies (the manager serves TLS). */
  secure: boolean;
  kbs?: KbsAuditSettings | null;
}

interface Session {
  credential: string;
  principal: Principal;
  viewer: Viewer;
  api: UiApi;
}

declare module "fastify" {
  interface FastifyRequest {
    uiSession: Session | null;
  }
}

/** Form bodies (sign-in, a task's JSON): small. */
const FORM_LIMIT_BYTES = 256 * 1024;

/** Where the static files are: beside this file in the source tree, or from dist/ back to it. */
function staticDir(): string {
  const candidates = [new URL("./static/", import.meta.url), new URL("../../../manager/ui/static/", import.meta.url)].map((u) => fileURLToPath(u));
  for (const dir of candidates) {
    try {
      readFileSync(`${dir}app.js`);
      return dir;
    } catch {
      // next candidate
    }
  }
  throw new Error(`the dashboard's static files are missing (looked in ${candidates.join(", ")})`);
}

const PUBLIC = { public: true } as const;
const HIDDEN = { hide: true } as const;

export async function uiRoutes(app: FastifyInstance, options: UiOptions): Promise<void> {
  const dir = staticDir();
  const assets = new Map<string, { type: string; body: Buffer }>([
    ["app.js", { type: "text/javascript; charset=utf-8", body: readFileSync(`${dir}app.js`) }],
    ["app.css", { type: "text/css; charset=utf-8", body: readFileSync(`${dir}app.css`) }],
  ]);
  const kbs = options.kbs ? new KbsAudit(options.kbs) : null;
  const cookieOptions = sessionCookieOptions(options.secure);

  await app.register(cookie);
  app.decorateRequest("uiSession", null);
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string", bodyLimit: FORM_LIMIT_BYTES }, (_req, body, done) => {
    const form: Record<string, string> = {};
    for (const [k, v] of new URLSearchParams(body as string)) form[k] = v;
    done(null, form);
  });

  app.addHook("onRequest", async (request, reply) => {
    reply.headers(securityHeaders());
    const url = request.url.split("?")[0]!;
    if (url === "/ui/login" || url.startsWith("/ui/static/")) return;
    const credential = request.cookies[SESSION_COOKIE];
    if (!credential) return toLogin(request, reply, undefined);
    try {
      request.uiSession = await authenticate(request, credential);
    } catch (err) {
      if (err instanceof UnauthorizedError || err instanceof TooManyFailuresError) {
        reply.clearCookie(SESSION_COOKIE, { path: "/ui" });
        return toLogin(request, reply, err.message);
      }
      throw err;
    }
  });
  // State changes: from this origin, with this session's CSRF token (SameSite=Strict besides).
  app.addHook("preHandler", async (request, reply) => {
    if (request.method !== "POST") return;
    const form = (request.body ?? {}) as Record<string, unknown>;
    const origin = sameOrigin(request.headers, request.headers.host);
    const session = request.uiSession;
    if (!origin || (session && !csrfMatches(session.credential, form.csrf))) {
      request.log.warn({ url: request.url, origin: request.headers.origin ?? null }, "dashboard request refused: cross-site or without its CSRF token");
      return reply.code(403).type("text/html; charset=utf-8").send(page("Refused", session?.viewer ?? null, html`<p class="flash error" role="alert">This request did not come from a dashboard page of this session (CSRF check). Reload the page and try again.</p>`));
    }
  });
  app.setErrorHandler(async (err, request, reply) => {
    const e = err as { statusCode?: number; message?: string };
    const status = err instanceof ApiError ? err.status : e.statusCode && e.statusCode >= 400 ? e.statusCode : 500;
    if (status >= 500) request.log.error({ err }, "dashboard page failed");
    const message = err instanceof ApiError ? `${err.message} (${err.code})` : status >= 500 ? "The page could not be built; the manager's log says why." : (e.message ?? "Bad request");
    return reply.code(status).type("text/html; charset=utf-8").send(page(status === 403 ? "Not allowed" : status === 404 ? "Not found" : "Error", request.uiSession?.viewer ?? null, html`<p class="flash error" role="alert">${message}</p><p><a href="/ui/fleet">Back to the dashboard</a></p>`));
  });

  async function authenticate(request: FastifyRequest, credential: string): Promise<Session> {
    const wait = options.gate.failures.blockedFor(request.ip);
    if (wait > 0) throw new TooManyFailuresError(`too many failed sign-ins from this address; retry in ${wait} s`, wait);
    let principal: Principal;
    try {
      principal = await options.gate.authenticator.authenticate(`Bearer ${credential}`);
    } catch (err) {
      if (err instanceof UnauthorizedError) {
        await options.gate.failures.record(request.ip);
        request.log.info({ code: err.code, client: request.ip }, "dashboard authentication failed");
      }
      throw err;
    }
    const viewer: Viewer = { id: principal.id, scopes: principal.scopes, canSubmit: grants(principal.scopes, "submit"), csrf: csrfToken(credential) };
    return { credential, principal, viewer, api: new UiApi(app, credential, request.ip) };
  }

  function toLogin(request: FastifyRequest, reply: FastifyReply, message: string | undefined) {
    // Back to this page after signing in (a link followed from elsewhere arrives without the
    // SameSite=Strict cookie): only a /ui path, never another site.
    if (request.method === "GET" && !message) return reply.redirect(`/ui/login?${new URLSearchParams({ next: nextPath(request.url) })}`, 303);
    return reply.code(401).type("text/html; charset=utf-8").send(page("Sign in", null, loginPage(message ?? "Sign in first.")));
  }

  // For what is read other than through the REST API (store.ts, the KBS): the scope every page needs.
  const requireRead = (s: Session) => {
    if (!grants(s.principal.scopes, "read")) throw new ApiError(403, "insufficient_scope", `this page needs the "read" scope; this credential has ${s.principal.scopes.join(", ") || "none"}`);
  };
  const session = (request: FastifyRequest): Session => {
    if (!request.uiSession) throw new UnauthorizedError("missing_credentials", "not signed in");
    return request.uiSession;
  };
  const send = (reply: FastifyReply, title: string, s: Session, body: Html, current = "") => reply.type("text/html; charset=utf-8").send(page(title, s.viewer, body, current));

  // --- static files and sign-in -------------------------------------------------------------
  app.get<{ Params: { file: string } }>("/ui/static/:file", { config: PUBLIC, schema: HIDDEN }, async (request, reply) => {
    const asset = assets.get(request.params.file);
    if (!asset) return reply.code(404).type("text/plain; charset=utf-8").send("not found");
    return reply.header("cache-control", "no-cache").type(asset.type).send(asset.body);
  });
  app.get("/ui", { config: PUBLIC, schema: HIDDEN }, async (_request, reply) => reply.redirect("/ui/fleet", 303));
  app.get<{ Querystring: Record<string, string | undefined> }>("/ui/login", { config: PUBLIC, schema: HIDDEN }, async (request, reply) =>
    reply.type("text/html; charset=utf-8").send(page("Sign in", null, loginPage(undefined, nextPath(request.query.next)))),
  );
  app.post<{ Body: Record<string, unknown> }>("/ui/login", { config: PUBLIC, schema: HIDDEN, bodyLimit: 16 * 1024 }, async (request, reply) => {
    const credential = typeof request.body?.credential === "string" ? request.body.credential.trim() : "";
    if (credential === "" || credential.length > MAX_CREDENTIAL_CHARS || !/^[\x21-\x7e]+$/.test(credential)) {
      return reply.code(400).type("text/html; charset=utf-8").send(page("Sign in", null, loginPage(`Paste an API key or token (printable characters, at most ${MAX_CREDENTIAL_CHARS}).`, nextPath(request.body?.next))));
    }
    try {
      await authenticate(request, credential);
    } catch (err) {
      if (err instanceof UnauthorizedError || err instanceof TooManyFailuresError) {
        return reply.code(err instanceof TooManyFailuresError ? 429 : 401).type("text/html; charset=utf-8").send(page("Sign in", null, loginPage(err.message, nextPath(request.body?.next))));
      }
      throw err;
    }
    return reply.setCookie(SESSION_COOKIE, credential, cookieOptions).redirect(nextPath(request.body?.next), 303);
  });
  app.post("/ui/logout", { config: PUBLIC, schema: HIDDEN }, async (_request, reply) => reply.clearCookie(SESSION_COOKIE, { path: "/ui" }).redirect("/ui/login", 303));

  // --- pages ----------------------------------------------------------------------------------
  app.get("/ui/fleet", { config: PUBLIC, schema: HIDDEN }, async (request, reply) => {
    const s = session(request);
    const proplets = await s.api.get<PropletList>("/proplets");
    requireRead(s);
    const [attested, metrics, liveness] = await Promise.all([
      options.db ? latestAttestations(options.db) : new Map(),
      s.api.get<string>("/metrics").catch(() => ""),
      options.db ? fleetLiveness(options.db) : new Map(),
    ]);
    return send(reply, "Fleet", s, fleetPage(sortProplets(proplets.items), attested, freeMemoryOf(typeof metrics === "string" ? metrics : ""), liveness), "/ui/fleet");
  });

  app.get<{ Querystring: Record<string, string | undefined> }>("/ui/tasks", { config: PUBLIC, schema: HIDDEN }, async (request, reply) => {
    const s = session(request);
    const state = request.query.state || undefined;
    const q = new URLSearchParams({ limit: "50", ...(state ? { state } : {}), ...(request.query.cursor ? { cursor: request.query.cursor } : {}) });
    const list = await s.api.get<TaskList>(`/tasks?${q}`);
    // The REST API has no pending-reason filter: this one narrows the page of 50 it returned.
    const pending = request.query.pending?.trim().slice(0, 200) || undefined;
    return send(reply, "Tasks", s, tasksPage(s.viewer, list.items, { ...(state ? { state } : {}), ...(pending ? { pending } : {}) }, list.nextCursor), "/ui/tasks");
  });

  app.post<{ Body: Record<string, unknown> }>("/ui/tasks", { config: PUBLIC, schema: HIDDEN, bodyLimit: FORM_LIMIT_BYTES }, async (request, reply) => {
    const s = session(request);
    let body: unknown;
    try {
      body = JSON.parse(String(request.body?.task ?? ""));
    } catch (err) {
      return reply.code(400).type("text/html; charset=utf-8").send(page("Tasks", s.viewer, html`${flash(`The task is not JSON: ${messageOf(err)}`)}<p><a href="/ui/tasks">Back</a></p>`, "/ui/tasks"));
    }
    const created = await s.api.request<Task>("POST", "/tasks", body);
    return reply.redirect(`/ui/tasks/${seg(created.body.id)}`, 303);
  });

  app.get<{ Params: { id: string } }>("/ui/tasks/:id", { config: PUBLIC, schema: HIDDEN }, async (request, reply) => {
    const s = session(request);
    const id = seg(request.params.id);
    const [task, runs] = await Promise.all([s.api.get<Task>(`/tasks/${id}`), s.api.get<RunList>(`/tasks/${id}/runs`)]);
    return send(reply, task.name, s, taskPage(s.viewer, task, runs.items), "/ui/tasks");
  });

  for (const action of ["start", "stop"] as const) {
    app.post<{ Params: { id: string } }>(`/ui/tasks/:id/${action}`, { config: PUBLIC, schema: HIDDEN }, async (request, reply) => {
      const s = session(request);
      const task = await s.api.request<Task>("POST", `/tasks/${seg(request.params.id)}/${action}`);
      request.log.info({ taskId: task.body.id, action, by: s.principal.id }, "dashboard action");
      const run = task.body.latestRun;
      return reply.redirect(run && action === "start" ? `/ui/tasks/${seg(task.body.id)}/runs/${seg(run.id)}` : `/ui/tasks/${seg(task.body.id)}`, 303);
    });
    for (const kind of ["workflows", "jobs"] as const) {
      app.post<{ Params: { id: string } }>(`/ui/${kind}/:id/${action}`, { config: PUBLIC, schema: HIDDEN }, async (request, reply) => {
        const s = session(request);
        const wf = await s.api.request<Workflow>("POST", `/${kind}/${seg(request.params.id)}/${action}`);
        request.log.info({ workflowId: wf.body.id, action, by: s.principal.id }, "dashboard action");
        return reply.redirect(`/ui/${kind}/${seg(wf.body.id)}`, 303);
      });
    }
  }

  app.get<{ Params: { id: string; runId: string } }>("/ui/tasks/:id/runs/:runId", { config: PUBLIC, schema: HIDDEN }, async (request, reply) => {
    const s = session(request);
    const id = seg(request.params.id);
    const [task, run] = await Promise.all([s.api.get<Task>(`/tasks/${id}`), s.api.get<Run>(`/tasks/${id}/runs/${seg(request.params.runId)}`)]);
    return send(reply, `${task.name} · run #${run.attempt}`, s, runPage(s.viewer, task, run), "/ui/tasks");
  });

  app.get<{ Params: { id: string; runId: string } }>("/ui/tasks/:id/runs/:runId/receipt.jws", { config: PUBLIC, schema: HIDDEN }, async (request, reply) => {
    const s = session(request);
    const run = await s.api.get<Run>(`/tasks/${seg(request.params.id)}/runs/${seg(request.params.runId)}`);
    if (!run.receipt) throw new ApiError(404, "no_receipt", "this run has no receipt");
    return reply.type("application/jose").header("content-disposition", `attachment; filename="receipt-${run.id.replace(/[^A-Za-z0-9_-]/g, "")}.jws"`).send(run.receipt);
  });

  // The stored output as JSON (the script reads it for a finished run) and the live stream (SSE).
  app.get<{ Params: { id: string; runId: string } }>("/ui/tasks/:id/runs/:runId/logs", { config: PUBLIC, schema: HIDDEN }, async (request, reply) => {
    const s = session(request);
    const list = await s.api.get<LogList>(`/tasks/${seg(request.params.id)}/runs/${seg(request.params.runId)}/logs`);
    return reply.type("application/json; charset=utf-8").send(JSON.stringify(list));
  });
  app.get<{ Params: { id: string; runId: string }; Querystring: { after?: string } }>("/ui/tasks/:id/runs/:runId/logs/stream", { config: PUBLIC, schema: HIDDEN }, async (request, reply) => {
    const s = session(request);
    // Where to resume: the browser's own reconnect sends Last-Event-ID; the page's script, when
    // it opens a new stream after the old one closed for good (a restart), says ?after=<seq>.
    const after = resumeAfter(request.headers["last-event-id"], request.query.after);
    if (after === null) return reply.code(400).type("text/plain; charset=utf-8").send(`after must be a log seq (0 to ${LOG_SEQ_MAX})`);
    // The browser going away ends the upstream follow (and frees its follower slot).
    const abort = new AbortController();
    request.raw.on("close", () => abort.abort());
    reply.raw.on("close", () => abort.abort());
    const upstream = await s.api.stream(`/tasks/${seg(request.params.id)}/runs/${seg(request.params.runId)}/logs?follow=true${after > 0 ? `&after=${after}` : ""}`, abort.signal);
    if (upstream.status !== 200 || !upstream.contentType.startsWith("text/event-stream")) {
      abort.abort();
      return reply.code(upstream.status === 200 ? 502 : upstream.status).type("text/plain; charset=utf-8").send("the log stream is not available");
    }
    reply.hijack();
    reply.raw.writeHead(200, { ...securityHeaders(), "content-type": "text/event-stream; charset=utf-8", connection: "keep-alive" });
    upstream.body.on("error", () => reply.raw.end());
    upstream.body.pipe(reply.raw);
    return reply;
  });

  app.get("/ui/workflows", { config: PUBLIC, schema: HIDDEN }, async (request, reply) => {
    const s = session(request);
    const [workflows, jobs] = await Promise.all([s.api.get<WorkflowList>("/workflows?limit=200"), s.api.get<WorkflowList>("/jobs?limit=200")]);
    const items = [...workflows.items, ...jobs.items].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    return send(reply, "Workflows & jobs", s, workflowsPage(items), "/ui/workflows");
  });
  for (const kind of ["workflows", "jobs"] as const) {
    app.get<{ Params: { id: string } }>(`/ui/${kind}/:id`, { config: PUBLIC, schema: HIDDEN }, async (request, reply) => {
      const s = session(request);
      const wf = await s.api.get<Workflow>(`/${kind}/${seg(request.params.id)}`);
      return send(reply, wf.name, s, workflowPage(s.viewer, wf), "/ui/workflows");
    });
  }

  app.get("/ui/cron", { config: PUBLIC, schema: HIDDEN }, async (request, reply) => {
    const s = session(request);
    requireRead(s);
    if (!options.db) return send(reply, "Cron schedules", s, html`<p class="empty">Not available on this server (no database behind the dashboard).</p>`, "/ui/cron");
    const { ids, more } = await scheduledTaskIds(options.db);
    // Each through the REST API, with this session's key; a task deleted meanwhile is left out.
    const rows = await Promise.all(ids.map(async (id) => ({ task: await s.api.find<Task>(`/tasks/${seg(id)}`), schedule: await s.api.find<ScheduleState>(`/tasks/${seg(id)}/schedule`) })));
    const found = rows.filter((r): r is { task: Task; schedule: ScheduleState | null } => r.task !== null);
    return send(reply, "Cron schedules", s, cronPage(found, more), "/ui/cron");
  });

  app.get("/ui/functions", { config: PUBLIC, schema: HIDDEN }, async (request, reply) => {
    const s = session(request);
    const list = await s.api.get<FunctionList>("/functions");
    return send(reply, "Functions", s, functionsPage(list.items), "/ui/functions");
  });

  app.get<{ Querystring: Record<string, string | undefined> }>("/ui/kbs", { config: PUBLIC, schema: HIDDEN }, async (request, reply) => {
    const s = session(request);
    requireRead(s);
    if (!kbs) return send(reply, "KBS audit", s, kbsPage({ configured: false }), "/ui/kbs");
    const event = (AUDIT_EVENTS as readonly string[]).includes(request.query.event ?? "") ? request.query.event : undefined;
    let entries = null;
    let error: string | null = null;
    try {
      entries = await kbs.recent({ limit: 200, event });
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
      request.log.warn({ err: error }, "KBS audit read failed");
    }
    return send(reply, "KBS audit", s, kbsPage({ configured: true, url: kbs.settings.url, entries, error, event }), "/ui/kbs");
  });
}

/** A dashboard page to return to: a /ui path (not the sign-in page itself), else the fleet. */
export function nextPath(value: unknown): string {
  if (typeof value !== "string" || value.length > 2000 || value.startsWith("/ui/login")) return "/ui/fleet";
  const path = uiHref(value);
  return path === "#" || path === "/ui" ? "/ui/fleet" : path;
}

function sortProplets(items: readonly Proplet[]): Proplet[] {
  return [...items].sort((a, b) => Number(b.alive) - Number(a.alive) || a.name.localeCompare(b.name));
}

/**
 * The seq a resumed log stream starts after: the larger of Last-Event-ID (anything but a seq in it
 * is ignored, as the API does) and ?after=; null when ?after= is given and is not a seq in range.
 */
export function resumeAfter(lastEventId: string | string[] | undefined, after: string | undefined): number | null {
  const seq = (v: string) => (/^\d{1,10}$/.test(v) && Number(v) <= LOG_SEQ_MAX ? Number(v) : null);
  const fromHeader = typeof lastEventId === "string" ? (seq(lastEventId) ?? 0) : 0;
  if (after === undefined) return fromHeader;
  const fromQuery = typeof after === "string" ? seq(after) : null;
  return fromQuery === null ? null : Math.max(fromHeader, fromQuery);
}
