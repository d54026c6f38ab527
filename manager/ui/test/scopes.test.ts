/**
 * Scope enforcement of the dashboard's actions, through the real HTTP app (routes, REST gate,
 * dashboard gate): a read key's start/stop reaches the REST scope check and is refused there, and
 * the service is never called; a submit key's is carried out. The key store and the task service
 * are stubbed (no database in the unit project): the boundary here is the gate and the routes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pino from "pino";
import type { FastifyInstance } from "fastify";
import { buildHttpApp, type RouteDeps } from "../../http/app.js";
import { Authenticator } from "../../auth/authenticate.js";
import { FailureLimiter } from "../../auth/failures.js";
import type { ApiKeys } from "../../auth/api-keys.js";
import type { Scope } from "../../auth/scopes.js";
import { UnauthorizedError } from "../../errors.js";
import { csrfToken, SESSION_COOKIE } from "../security.js";

const KEYS: Record<string, Scope[]> = {
  prop_reader0000000000_readsecretreadsecretreadsecret0: ["read"],
  prop_submit0000000000_submitsecretsubmitsecretsubmit0: ["read", "submit"],
};
const [READ_KEY, SUBMIT_KEY] = Object.keys(KEYS) as [string, string];

const task = (id: string, state: string) => ({
  id,
  name: `task <${id}>`,
  state,
  runtime: "wasi-p1",
  artifact: { digest: "sha256:00", size: 1, location: "inline" },
  entrypoint: { kind: "wasi" },
  args: [],
  env: {},
  secretEnvNames: [],
  stdin: "",
  limits: { timeoutMs: 1, memoryBytes: 1, outputBytes: 1 },
  target: null,
  requirements: { tags: [], tee: null },
  onPropletLoss: "fail",
  encrypted: false,
  confidential: null,
  pendingReason: null,
  createdAt: "2026-01-01T00:00:00.000Z",
  updatedAt: "2026-01-01T00:00:00.000Z",
  latestRun: { id: "run1", taskId: id, attempt: 1, state: state === "running" ? "running" : "completed", propletId: null, deliveries: 1, createdAt: "2026-01-01T00:00:00.000Z", dispatchedAt: null, acceptedAt: null, startedAt: null, finishedAt: null, result: null, receipt: null, receiptCheck: null },
});

describe("dashboard actions and scopes", () => {
  let app: FastifyInstance;
  const calls: string[] = [];
  let followers = 0;

  beforeAll(async () => {
    const apiKeys = {
      check: async (text: string) => {
        const scopes = KEYS[text];
        if (!scopes) throw new UnauthorizedError("invalid_credentials", "unknown key");
        return { id: text.split("_")[1]!, scopes };
      },
    } as unknown as ApiKeys;
    const service = {
      get: async (id: string) => task(id, "running"),
      list: async () => ({ items: [task("t1", "running")], nextCursor: null }),
      runs: async () => [],
      start: async (id: string) => (calls.push(`start ${id}`), task(id, "running")),
      stop: async (id: string) => (calls.push(`stop ${id}`), task(id, "stopped")),
      waitSettled: async () => undefined,
    };
    // The live output: one chunk, then it waits until its follower goes away.
    const logs = {
      list: async () => ({ items: [], state: "running" }),
      follow: async (_id: string, _run: string, _after: number, follower: { chunk(c: unknown): void }, signal: AbortSignal, start: () => void) => {
        start();
        follower.chunk({ seq: 1, stream: "stdout", data: Buffer.from("hello\n").toString("base64"), at: "2026-01-01T00:00:00.000Z" });
        followers++;
        await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
        followers--;
      },
    };
    const deps = { service, logs, liveness: {}, health: async () => ({ status: "ok", database: "ok", mqtt: "ok", counters: {} }), ui: { kbs: null } } as unknown as RouteDeps;
    const gate = { authenticator: new Authenticator(apiKeys, null), failures: new FailureLimiter({ max: 1000, windowMs: 60_000 }) };
    ({ app } = await buildHttpApp(deps, pino({ level: "silent" }), { gate, apiKeys }));
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
  });

  const post = (key: string | null, url: string, form: Record<string, string>, headers: Record<string, string> = {}) =>
    app.inject({ method: "POST", url, headers: { "content-type": "application/x-www-form-urlencoded", ...(key ? { cookie: `${SESSION_COOKIE}=${key}` } : {}), ...headers }, payload: new URLSearchParams(form).toString() });

  it("a read key: no action buttons on the page, and a posted stop or start is refused by the REST scope check", async () => {
    const pageReply = await app.inject({ method: "GET", url: "/ui/tasks/t1", headers: { cookie: `${SESSION_COOKIE}=${READ_KEY}` } });
    expect(pageReply.statusCode).toBe(200);
    expect(pageReply.body).toContain("task &lt;t1&gt;");
    expect(pageReply.body).not.toContain("data-action");
    for (const action of ["stop", "start"]) {
      const r = await post(READ_KEY, `/ui/tasks/t1/${action}`, { csrf: csrfToken(READ_KEY) });
      expect(r.statusCode, action).toBe(403);
      expect(r.body).toMatch(/needs the &quot;submit&quot; scope/);
      expect(r.headers["content-type"]).toMatch(/^text\/html/);
    }
    expect(calls).toEqual([]);
  });

  it("a submit key: the Stop button is there, and the stop is done", async () => {
    const pageReply = await app.inject({ method: "GET", url: "/ui/tasks/t1", headers: { cookie: `${SESSION_COOKIE}=${SUBMIT_KEY}` } });
    expect(pageReply.body).toContain('data-action="stop"');
    const r = await post(SUBMIT_KEY, "/ui/tasks/t1/stop", { csrf: csrfToken(SUBMIT_KEY) });
    expect(r.statusCode).toBe(303);
    expect(r.headers.location).toBe("/ui/tasks/t1");
    expect(calls).toEqual(["stop t1"]);
  });

  it("no CSRF token, another key's token, or another site: refused before anything is done", async () => {
    calls.length = 0;
    expect((await post(SUBMIT_KEY, "/ui/tasks/t1/stop", {})).statusCode).toBe(403);
    expect((await post(SUBMIT_KEY, "/ui/tasks/t1/stop", { csrf: csrfToken(READ_KEY) })).statusCode).toBe(403);
    expect((await post(SUBMIT_KEY, "/ui/tasks/t1/stop", { csrf: csrfToken(SUBMIT_KEY) }, { origin: "https://evil.example" })).statusCode).toBe(403);
    expect((await post(SUBMIT_KEY, "/ui/tasks/t1/stop", { csrf: csrfToken(SUBMIT_KEY) }, { "sec-fetch-site": "cross-site" })).statusCode).toBe(403);
    expect(calls).toEqual([]);
  });

  it("without a session: pages redirect to sign-in, actions are 401, a bad key is refused at sign-in", async () => {
    const page = await app.inject({ method: "GET", url: "/ui/tasks" });
    expect(page.statusCode).toBe(303);
    expect(page.headers.location).toBe("/ui/login?next=%2Fui%2Ftasks");
    expect((await post(null, "/ui/tasks/t1/stop", {})).statusCode).toBe(401);
    const bad = await post(null, "/ui/login", { credential: "prop_nope0000000000_nopenopenopenopenopenopenope00" });
    expect(bad.statusCode).toBe(401);
    expect(bad.headers["set-cookie"]).toBeUndefined();
    const good = await post(null, "/ui/login", { credential: SUBMIT_KEY });
    expect(good.statusCode).toBe(303);
    expect(String(good.headers["set-cookie"])).toMatch(/^propeller_ui=.+; Max-Age=28800; Path=\/ui; HttpOnly; SameSite=Strict$/);
    // Back to the page asked for, never to another site.
    expect((await post(null, "/ui/login", { credential: SUBMIT_KEY, next: "/ui/tasks/t1" })).headers.location).toBe("/ui/tasks/t1");
    for (const next of ["https://evil.example/ui/", "//evil.example/ui", "/ui/login?next=x", "javascript:alert(1)"]) {
      expect((await post(null, "/ui/login", { credential: SUBMIT_KEY, next })).headers.location, next).toBe("/ui/fleet");
    }
    expect((await app.inject({ method: "GET", url: "/ui/login?next=%2Fui%2Fcron" })).body).toContain('name="next" value="/ui/cron"');
    expect(calls).toEqual([]);
  });

  it("live output: the REST API's event stream, relayed under /ui; the follow ends when the browser leaves", async () => {
    const leave = new AbortController();
    const reply = await app.inject({ method: "GET", url: "/ui/tasks/t1/runs/run1/logs/stream", headers: { cookie: `${SESSION_COOKIE}=${READ_KEY}` }, payloadAsStream: true, signal: leave.signal });
    expect(reply.statusCode).toBe(200);
    expect(reply.headers["content-type"]).toMatch(/^text\/event-stream/);
    expect(reply.headers["content-security-policy"]).toMatch(/default-src 'self'/);
    const stream = reply.stream();
    let text = "";
    for await (const chunk of stream) {
      text += String(chunk);
      if (text.includes("event: log")) break;
    }
    expect(text).toMatch(/event: log\nid: 1\ndata: \{"seq":1,"stream":"stdout"/);
    expect(followers).toBe(1);
    leave.abort();
    for (let i = 0; i < 100 && followers > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(followers).toBe(0);
    // Without a session there is no stream.
    expect((await app.inject({ method: "GET", url: "/ui/tasks/t1/runs/run1/logs/stream" })).statusCode).toBe(303);
  });

  it("every dashboard response carries the CSP, static files included; the script is a file, not inline", async () => {
    for (const url of ["/ui/login", "/ui/static/app.js", "/ui/static/app.css"]) {
      const r = await app.inject({ method: "GET", url });
      expect(r.statusCode, url).toBe(200);
      expect(r.headers["content-security-policy"], url).toMatch(/^default-src 'self'; script-src 'self'/);
    }
    const login = await app.inject({ method: "GET", url: "/ui/login" });
    expect(login.body).not.toMatch(/<script>|<script [^>]*>[^<]|\son\w+=|style=/);
    expect((await app.inject({ method: "GET", url: "/ui/static/../../package.json" })).statusCode).not.toBe(200);
  });
});
