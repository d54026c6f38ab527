/**
 * Authentication and authorisation of the REST API, against a real manager (real broker, real
 * database). The central test takes the route list FROM THE SERVER (its onRoute table) and, for every
 * route but GET /health, tries every kind of wrong credential and the right one. A route added
 * without a scope is denied to everyone, and the same check reports it (the throwaway-route test).
 */
import { createServer, type Server } from "node:http";
import { request as httpsRequest } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from "jose";
import type { FastifyInstance } from "fastify";
import pino from "pino";
import { ADMIN_KEY, BOOTSTRAP, api, bearer, logger, startBacking, startHarness, type Backing, type Harness } from "./helpers.js";
import { generateApiKey, startManager, type RouteEntry } from "../index.js";
import { buildHttpApp } from "../http/app.js";
import { BODY_LIMIT_BYTES } from "../../protocol/api/index.js";
import { ApiKeys } from "../auth/api-keys.js";
import { Authenticator } from "../auth/authenticate.js";
import { FailureLimiter } from "../auth/failures.js";
import { openManagerDatabase } from "../store/open.js";
import { createTestPki, type TestPki } from "../../testing/tls.js";
import type { TaskService } from "../tasks/service.js";
import type { Liveness } from "../liveness/liveness.js";

const ISSUER = "https://issuer.test";
const AUDIENCE = "propeller-manager";

interface Issuer {
  jwksUrl: string;
  sign(claims: Record<string, unknown>, options?: { audience?: string; issuer?: string; expiresIn?: string | number; key?: CryptoKey }): Promise<string>;
  foreignKey: CryptoKey;
  close(): Promise<void>;
}

/** A local token issuer: an ES256 key pair and its JWKS served over HTTP on a free loopback port. */
async function startIssuer(): Promise<Issuer> {
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const foreign = await generateKeyPair("ES256");
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256", use: "sig" };
  const server: Server = createServer((req, res) => {
    if (req.url === "/jwks.json") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] }));
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    jwksUrl: `http://127.0.0.1:${port}/jwks.json`,
    foreignKey: foreign.privateKey,
    async sign(claims, options = {}) {
      const jwt = new SignJWT(claims)
        .setProtectedHeader({ alg: "ES256", kid: "k1" })
        .setIssuer(options.issuer ?? ISSUER)
        .setAudience(options.audience ?? AUDIENCE)
        .setSubject("alice")
        .setIssuedAt();
      if (typeof options.expiresIn === "number") jwt.setExpirationTime(options.expiresIn);
      else jwt.setExpirationTime(options.expiresIn ?? "5m");
      return jwt.sign(options.key ?? privateKey);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type Send = (method: string, url: string, headers: Record<string, string>) => Promise<{ status: number; headers: Record<string, string>; body: string }>;

function sendOver(base: string): Send {
  return async (method, url, headers) => {
    const response = await fetch(`${base}${url}`, { method, headers, signal: AbortSignal.timeout(10_000) });
    return { status: response.status, headers: Object.fromEntries(response.headers), body: await response.text() };
  };
}

function sendInject(app: FastifyInstance): Send {
  return async (method, url, headers) => {
    const r = await app.inject({ method: method as "GET", url, headers });
    return { status: r.statusCode, headers: r.headers as Record<string, string>, body: r.body };
  };
}

/** A concrete URL for a route pattern (parameter values need not exist: the gate runs first). */
function concrete(url: string): string {
  return url.replace(/:runId/g, "run-x1").replace(/:id/g, "nonexistent-id-1");
}

/** The scope policy of the contract: reads need read, proplet removal and key management admin, the rest submit. */
function expectedScope(route: RouteEntry): string {
  if (route.url.startsWith("/apikeys") || (route.method === "DELETE" && route.url.startsWith("/proplets"))) return "admin";
  return route.method === "GET" || route.method === "HEAD" ? "read" : "submit";
}

/** Credentials for every case, built once per manager. */
interface Credentials {
  byScope: Record<"read" | "submit" | "admin", string>;
  /** A credential that lacks the given scope (for the 403 case). */
  lacking: Record<"read" | "submit" | "admin", string>;
  jwtByScope: Record<"read" | "submit" | "admin", string>;
  jwtLacking: Record<"read" | "submit" | "admin", string>;
  bad: Array<[string, Record<string, string>]>;
}

/**
 * Every check for one route; returns what is wrong (empty = the route is guarded as it should be).
 * A route without a declared scope fails here (its right-scope request is refused).
 */
async function checkRoute(send: Send, route: RouteEntry, creds: Credentials): Promise<string[]> {
  const problems: string[] = [];
  const name = `${route.method} ${route.url}`;
  const url = concrete(route.url);
  for (const [label, headers] of creds.bad) {
    const r = await send(route.method, url, headers);
    if (r.status !== 401) problems.push(`${name} with ${label}: ${r.status}, expected 401`);
    else if (!/^Bearer\b/.test(r.headers["www-authenticate"] ?? "")) problems.push(`${name} with ${label}: no WWW-Authenticate: Bearer`);
    else if (route.method !== "HEAD" && typeof JSON.parse(r.body).code !== "string") problems.push(`${name} with ${label}: not a JSON error`);
  }
  const scope = route.scope ?? "admin";
  if (route.scope === null) problems.push(`${name} declares no scope`);
  for (const [label, token] of [["an API key", creds.lacking[scope]], ["a JWT", creds.jwtLacking[scope]]] as const) {
    const r = await send(route.method, url, bearer(token));
    if (r.status !== 403) problems.push(`${name} with ${label} lacking "${scope}": ${r.status}, expected 403`);
  }
  for (const [label, token] of [
    [`a "${scope}" API key`, creds.byScope[scope]],
    [`a "${scope}" JWT`, creds.jwtByScope[scope]],
    ["an admin API key", creds.byScope.admin],
  ] as const) {
    const r = await send(route.method, url, bearer(token));
    if (r.status === 401 || r.status === 403 || r.status === 429) problems.push(`${name} with ${label}: ${r.status} ${r.body.slice(0, 200)}`);
  }
  return problems;
}

async function createKey(base: string, scopes: string[], name = scopes.join("+")): Promise<{ id: string; key: string }> {
  const r = await api<{ id: string; key: string }>(base, "POST", "/apikeys", { name, scopes });
  expect(r.status).toBe(201);
  return r.body;
}

async function credentials(base: string, issuer: Issuer): Promise<Credentials> {
  const read = await createKey(base, ["read"]);
  const submit = await createKey(base, ["submit"]);
  const admin = await createKey(base, ["admin"]);
  const readSubmit = await createKey(base, ["read", "submit"]);
  const revoked = await createKey(base, ["admin"], "to be revoked");
  expect((await api(base, "DELETE", `/apikeys/${revoked.id}`)).status).toBe(204);
  const jwt = (scope: string) => issuer.sign({ scope });
  const unknown = generateApiKey().key;
  const wrongSecret = `${admin.key.slice(0, 22)}${"A".repeat(43)}`; // prop_ + 16-char id + _
  const bearerOf = (t: string) => ({ authorization: `Bearer ${t}` });
  return {
    byScope: { read: read.key, submit: submit.key, admin: admin.key },
    lacking: { read: submit.key, submit: read.key, admin: readSubmit.key },
    jwtByScope: { read: await jwt("read"), submit: await jwt("submit"), admin: await jwt("admin") },
    jwtLacking: { read: await jwt("submit"), submit: await jwt("read"), admin: await jwt("read submit") },
    bad: [
      ["no credential", {}],
      ["a malformed header", { authorization: "Bearer" }],
      ["a Basic credential", { authorization: `Basic ${Buffer.from("admin:admin").toString("base64")}` }],
      ["a malformed key", bearerOf("prop_short_x")],
      ["an unknown key", bearerOf(unknown)],
      ["a known key id with a wrong secret", bearerOf(wrongSecret)],
      ["a revoked key", bearerOf(revoked.key)],
      ["a JWT for another audience", bearerOf(await issuer.sign({ scope: "admin" }, { audience: "someone-else" }))],
      ["an expired JWT", bearerOf(await issuer.sign({ scope: "admin" }, { expiresIn: Math.floor(Date.now() / 1000) - 600 }))],
      ["a JWT from another issuer", bearerOf(await issuer.sign({ scope: "admin" }, { issuer: "https://evil.test" }))],
      ["a JWT signed by a foreign key", bearerOf(await issuer.sign({ scope: "admin" }, { key: issuer.foreignKey }))],
      ["garbage", bearerOf("not-a-token")],
    ],
  };
}

describe("REST API authentication", () => {
  let backing: Backing;
  let issuer: Issuer;
  let h: Harness;
  let creds: Credentials;

  beforeAll(async () => {
    backing = await startBacking("embedded");
    issuer = await startIssuer();
    h = await startHarness(backing, {
      auth: { ...BOOTSTRAP, jwt: { issuer: ISSUER, audience: AUDIENCE, jwksUrl: issuer.jwksUrl }, failureLimit: { max: 100_000 } },
    });
    creds = await credentials(h.manager.url, issuer);
  }, 60_000);
  afterAll(async () => {
    await h?.close();
    await issuer?.close();
    await backing?.close();
  });

  it("guards every route the server registered except GET /health and the log's public reads (from the server's own route table)", async () => {
    const routes = h.manager.routes;
    // The table is the server's: it has the routes this test never names, e.g. the API key routes.
    expect(routes.length).toBeGreaterThanOrEqual(20);
    expect(routes.map((r) => `${r.method} ${r.url}`)).toEqual(expect.arrayContaining(["POST /apikeys", "GET /openapi.json", "DELETE /proplets/:id"]));
    // Every route reads a bounded body: the API key routes a small one, the rest the server's limit.
    for (const r of routes) expect(r.bodyLimit, `${r.method} ${r.url}`).toBeLessThanOrEqual(BODY_LIMIT_BYTES);
    expect(routes.find((r) => r.method === "POST" && r.url === "/apikeys")!.bodyLimit).toBe(4096);
    // Public: health, and the transparency log's reads (log.publicRead, default true; docs/transparency.md).
    const PUBLIC = ["GET /health", "HEAD /health", ...["checkpoint", "key", "tile/*", "proof/inclusion", "proof/consistency"].flatMap((p) => [`GET /log/${p}`, `HEAD /log/${p}`])];
    // The dashboard's HTML routes (/ui…) are public to the bearer gate and guarded by its own
    // session gate instead (manager/ui/routes.ts): checked just below.
    const ui = routes.filter((r) => r.url === "/ui" || r.url.startsWith("/ui/"));
    expect(ui.every((r) => r.public && r.schema?.hide === true)).toBe(true);
    expect(routes.filter((r) => r.public && !ui.includes(r)).map((r) => `${r.method} ${r.url}`).sort()).toEqual(PUBLIC.filter((n) => routes.some((r) => `${r.method} ${r.url}` === n)).sort());
    for (const r of ui.filter((u) => u.method !== "HEAD" && u.url !== "/ui/login" && !u.url.startsWith("/ui/static/"))) {
      const url = r.url.replace(/:\w+/g, "x");
      const res = await fetch(`${h.manager.url}${url}`, { method: r.method, redirect: "manual", headers: { authorization: `Bearer ${creds.byScope.admin}` } });
      // A bearer header is not a dashboard session: sign-in first (303 for pages, 401 for actions).
      expect(res.status, `${r.method} ${r.url}`).toBe(r.method === "GET" ? 303 : 401);
    }
    expect(routes.some((r) => r.url === "/log/checkpoint" && r.public)).toBe(true);
    const send = sendOver(h.manager.url);
    const problems: string[] = [];
    for (const route of routes.filter((r) => !r.public)) {
      if (route.scope !== expectedScope(route)) problems.push(`${route.method} ${route.url} declares ${route.scope}, the policy says ${expectedScope(route)}`);
      problems.push(...(await checkRoute(send, route, creds)));
    }
    expect(problems).toEqual([]);
    // And the public one is public.
    expect((await send("GET", "/health", {})).status).toBe(200);
  }, 120_000);

  it("denies a route that declares no scope, and the route check above reports it", async () => {
    const db = await openManagerDatabase("pglite://memory");
    const apiKeys = new ApiKeys(db, logger);
    const admin = await apiKeys.create("admin", ["admin"]);
    const gate = { authenticator: new Authenticator(apiKeys, { issuer: ISSUER, audience: AUDIENCE, jwksUrl: issuer.jwksUrl }), failures: new FailureLimiter({ max: 100_000, windowMs: 60_000 }) };
    const unused = {} as never;
    const { app, routes } = await buildHttpApp({ service: unused as TaskService, liveness: unused as Liveness, health: async () => ({ status: "ok", database: "ok", mqtt: "ok", counters: {} }) }, logger, {
      gate,
      apiKeys,
      extraRoutes: (a) => {
        a.get("/throwaway", async () => ({ secret: "should never be served" }));
      },
    });
    try {
      const throwaway = routes.find((r) => r.url === "/throwaway" && r.method === "GET")!;
      expect(throwaway.scope).toBeNull();
      const denied = await app.inject({ method: "GET", url: "/throwaway", headers: bearer(admin.key) });
      expect(denied.statusCode).toBe(403);
      expect(denied.json()).toMatchObject({ code: "route_without_scope" });
      expect((await app.inject({ method: "GET", url: "/throwaway" })).statusCode).toBe(401);
      // The same check the real routes pass fails for this one.
      const local: Credentials = { ...creds, byScope: { ...creds.byScope, admin: admin.key } };
      const problems = await checkRoute(sendInject(app), throwaway, local);
      expect(problems.join("\n")).toMatch(/declares no scope/);
      expect(problems.join("\n")).toMatch(/GET \/throwaway with an admin API key: 403/);
    } finally {
      await app.close();
      await db.close();
    }
  });

  it("redacts credentials and secret env from the HTTP logger, whatever a handler logs", async () => {
    const lines: string[] = [];
    const sink = pino({ level: "trace" }, { write: (line: string) => void lines.push(line) });
    const db = await openManagerDatabase("pglite://memory");
    const apiKeys = new ApiKeys(db, logger);
    const admin = await apiKeys.create("admin", ["admin"]);
    const gate = { authenticator: new Authenticator(apiKeys, null), failures: new FailureLimiter({ max: 100, windowMs: 60_000 }) };
    const unused = {} as never;
    const { app } = await buildHttpApp({ service: unused as TaskService, liveness: unused as Liveness, health: async () => ({ status: "ok", database: "ok", mqtt: "ok", counters: {} }) }, sink, {
      gate,
      apiKeys,
      extraRoutes: (a) => {
        a.post("/careless", { config: { scope: "read" } }, async (req) => {
          req.log.info({ headers: req.headers, req: { headers: req.headers }, body: req.body }, "a careless handler");
          return { ok: true };
        });
      },
    });
    try {
      const r = await app.inject({ method: "POST", url: "/careless", headers: { ...bearer(admin.key), "content-type": "application/json" }, payload: { secretEnv: { X: "s3cr3t-value" }, key: "prop_x", token: "tok-value" } });
      expect(r.statusCode).toBe(200);
      const log = lines.join("");
      expect(log).toContain("a careless handler");
      expect(log).toContain("[redacted]");
      for (const secret of [admin.key, "s3cr3t-value", "tok-value"]) expect(log).not.toContain(secret);
    } finally {
      await app.close();
      await db.close();
    }
  });

  it("answers an unknown path 401 without a credential and 404 with one", async () => {
    const send = sendOver(h.manager.url);
    expect((await send("GET", "/no/such/route", {})).status).toBe(401);
    expect((await send("GET", "/no/such/route", bearer(creds.byScope.read))).status).toBe(404);
  });

  it("works end to end with a JWT from the local issuer (submit + read scopes)", async () => {
    const token = await issuer.sign({ scope: "read submit" });
    const created = await api<{ id: string }>(h.manager.url, "POST", "/tasks", { name: "jwt", artifact: { digest: `sha256:${"a".repeat(64)}`, url: "http://127.0.0.1:9/x.wasm" } }, token);
    expect(created.status).toBe(201);
    const got = await api<{ id: string; name: string }>(h.manager.url, "GET", `/tasks/${created.body.id}`, undefined, token);
    expect(got).toMatchObject({ status: 200, body: { id: created.body.id, name: "jwt" } });
    // Not admin: no proplet removal, no key management.
    expect((await api(h.manager.url, "GET", "/apikeys", undefined, token)).status).toBe(403);
  });

  it("manages API keys: text once, never a hash, revocation at once, last use recorded", async () => {
    const created = await createKey(h.manager.url, ["read"], "ci reader");
    expect(created.key).toMatch(/^prop_[A-Za-z0-9-]{12,}_[A-Za-z0-9_-]{43}$/);
    expect((await api(h.manager.url, "GET", "/tasks", undefined, created.key)).status).toBe(200);
    const list = await api<{ items: Array<Record<string, unknown>> }>(h.manager.url, "GET", "/apikeys");
    const text = JSON.stringify(list.body);
    expect(text).not.toContain(created.key.slice(22));
    expect(text).not.toMatch(/[0-9a-f]{64}/);
    const entry = list.body.items.find((k) => k.id === created.id)!;
    expect(Object.keys(entry).sort()).toEqual(["createdAt", "id", "lastUsedAt", "name", "revokedAt", "scopes"]);
    expect(entry).toMatchObject({ name: "ci reader", scopes: ["read"], revokedAt: null });
    expect(entry.lastUsedAt).not.toBeNull();
    expect((await api(h.manager.url, "DELETE", `/apikeys/${created.id}`)).status).toBe(204);
    const refused = await api<{ code: string }>(h.manager.url, "GET", "/tasks", undefined, created.key);
    expect(refused).toMatchObject({ status: 401, body: { code: "revoked_credentials" } });
    expect((await api(h.manager.url, "DELETE", "/apikeys/nonexistent-id-1")).status).toBe(404);
    expect((await api(h.manager.url, "POST", "/apikeys", { name: "x", scopes: ["root"] })).status).toBe(400);
    expect((await api(h.manager.url, "POST", "/apikeys", { name: "x".repeat(5000), scopes: ["read"] })).status).toBe(413);
  });

  it("documents the bearer scheme and 401/403 on every guarded operation", async () => {
    const doc = await api<{ components: { securitySchemes: Record<string, { scheme: string }> }; paths: Record<string, Record<string, { responses: Record<string, unknown>; security?: unknown[] }>> }>(h.manager.url, "GET", "/openapi.json");
    expect(doc.status).toBe(200);
    expect(doc.body.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
    expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(["/apikeys", "/apikeys/{id}"]));
    for (const [path, ops] of Object.entries(doc.body.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        // Public: health, and the transparency log's reads (log.publicRead, the default).
        if (path === "/health" || (method === "get" && path.startsWith("/log/"))) {
          expect(op.security, `${method} ${path}`).toEqual([]);
          continue;
        }
        expect(Object.keys(op.responses), `${method} ${path}`).toEqual(expect.arrayContaining(["401", "403"]));
      }
    }
  });
});

describe("failed authentications are rate limited per client", () => {
  it("answers 429 with Retry-After after the limit, while successes never count", async () => {
    const backing = await startBacking("embedded");
    const h = await startHarness(backing, { auth: { ...BOOTSTRAP, failureLimit: { max: 5, windowMs: 60_000 } } });
    try {
      for (let i = 0; i < 30; i++) expect((await h.api("GET", "/tasks")).status).toBe(200);
      const bad = generateApiKey().key;
      for (let i = 0; i < 5; i++) expect((await api(h.manager.url, "GET", "/tasks", undefined, bad)).status).toBe(401);
      const limited = await fetch(`${h.manager.url}/tasks`, { headers: bearer(bad) });
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(await limited.json()).toMatchObject({ code: "too_many_auth_failures" });
      // The address is blocked for every credential until the window ends; health stays open.
      expect((await h.api("GET", "/tasks")).status).toBe(429);
      expect((await api(h.manager.url, "GET", "/health", undefined, null)).status).toBe(200);
    } finally {
      await h.close();
      await backing.close();
    }
  });
});

describe("bootstrap keys", () => {
  it("are stored once; one an operator revoked stays revoked after a restart; a different key under a taken id is refused", async () => {
    const backing = await startBacking("embedded", { persistent: true });
    const first = await startHarness(backing);
    let again: Awaited<ReturnType<typeof startManager>> | undefined;
    try {
      const other = await createKey(first.manager.url, ["admin"], "second admin");
      expect((await api(first.manager.url, "DELETE", `/apikeys/${ADMIN_KEY.slice(5, 21)}`, undefined, other.key)).status).toBe(204);
      await first.close();
      again = await startManager(first.config);
      expect((await api<{ code: string }>(again.url, "GET", "/tasks")).body.code).toBe("revoked_credentials");
      const listed = await api<{ items: Array<{ name: string }> }>(again.url, "GET", "/apikeys", undefined, other.key);
      expect(listed.body.items.filter((k) => k.name === "test-admin")).toHaveLength(1);
      await again.close();
      again = undefined;
      const impostor = `${ADMIN_KEY.slice(0, 22)}${"B".repeat(43)}`;
      await expect(startManager({ ...first.config, auth: { bootstrapKeys: [{ name: "impostor", key: impostor, scopes: ["admin"] }] } })).rejects.toThrow(/taken by a different key/);
    } finally {
      await again?.close();
      await first.close().catch(() => undefined);
      await backing.close();
    }
  });
});

describe("an unreachable token issuer", () => {
  it("answers 503 (not 401), and does not count it as a failed authentication", async () => {
    const backing = await startBacking("embedded");
    const issuer = await startIssuer();
    const token = await issuer.sign({ scope: "read" });
    await issuer.close(); // its JWKS is gone before the manager ever fetched it
    const h = await startHarness(backing, { auth: { ...BOOTSTRAP, jwt: { issuer: ISSUER, audience: AUDIENCE, jwksUrl: issuer.jwksUrl }, failureLimit: { max: 2 } } });
    try {
      for (let i = 0; i < 4; i++) {
        const r = await api<{ code: string }>(h.manager.url, "GET", "/tasks", undefined, token);
        expect(r).toMatchObject({ status: 503, body: { code: "auth_unavailable" } });
      }
      expect((await h.api("GET", "/tasks")).status).toBe(200);
    } finally {
      await h.close();
      await backing.close();
    }
  });
});

describe("HTTPS", () => {
  let pki: TestPki;
  beforeAll(async () => {
    pki = await createTestPki({ proplets: [], servers: ["manager"] });
  });
  afterAll(async () => pki?.dispose());

  function httpsGet(url: string, ca: Buffer | undefined, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(url, { ...(ca ? { ca } : {}), headers, timeout: 5000 }, (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", reject);
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.end();
    });
  }

  it("serves HTTPS only when http.tls is set: a client trusting the CA gets answers, plain HTTP and untrusting clients fail", async () => {
    const backing = await startBacking("embedded");
    const tls = await pki.identity("manager");
    const h = await startHarness(backing, { http: { port: 0, tls: { cert: tls.cert, key: tls.key } } });
    try {
      expect(h.manager.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(await httpsGet(`${h.manager.url}/health`, pki.ca)).toMatchObject({ status: 200 });
      expect((await httpsGet(`${h.manager.url}/tasks`, pki.ca, bearer(ADMIN_KEY))).status).toBe(200);
      expect((await httpsGet(`${h.manager.url}/tasks`, pki.ca)).status).toBe(401);
      await expect(httpsGet(`${h.manager.url}/health`, undefined)).rejects.toThrow(/self-signed|unable to verify|certificate/i);
      const plain = h.manager.url.replace("https://", "http://");
      const outcome = await fetch(`${plain}/health`, { signal: AbortSignal.timeout(5000) }).then((r) => r.status, (err: Error) => err);
      expect(outcome === 200).toBe(false);
    } finally {
      await h.close();
      await backing.close();
    }
  });

  it("refuses a TLS setting without a key, naming it and not echoing it", async () => {
    const { resolveConfig } = await import("../config.js");
    expect(() => resolveConfig({ databaseUrl: "pglite://memory", mqtt: { url: "mqtt://x" }, http: { tls: { cert: "PEM", key: "" } }, logger: pino({ level: "silent" }) })).toThrow(/http\.tls\.key/);
  });
});
