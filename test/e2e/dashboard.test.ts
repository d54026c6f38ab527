/**
 * The operator dashboard in a real browser: Debian's chromium driven by playwright-core, against a
 * real deployment (Mosquitto, PostgreSQL for the manager and the KBS, a KBS in development mode, a
 * proplet with the sample TEE and one without). A submit key signs in, sees the fleet, submits a
 * task, watches its output live, opens its receipt, and an attested run's token claims; a read key
 * sees everything but has no actions, and a forged action is refused. Every page is screenshotted
 * into test-artifacts/dashboard/ (gitignored; CI keeps it).
 */
import { existsSync } from "node:fs";
import { createServer, request as httpRequest, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import wabt from "wabt";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { main } from "../../cli/main.js";
import { startManager, type RunningManager } from "../../manager/index.js";
import { startProplet } from "../../proplet/index.js";
import { adminKeygen, mintAdminToken, setAttestationPolicy, startKbs } from "../../kbs/index.js";
import { createTestDatabase } from "../../testing/postgres.js";
import { TEST_MQTT_URL } from "../../testing/mosquitto.js";
import { uniqueTopicRoot, waitFor } from "../../testing/net.js";
import { EXAMPLES_DIR, REPO_ROOT } from "../../testing/paths.js";
import { describeWhen } from "../../testing/describe-when.js";
import { sha256Digest } from "../../protocol/index.js";
import { E2E_ADMIN_KEY, E2E_AUTH } from "./helpers.js";

const CHROMIUM = process.env.PROPELLER_CHROMIUM ?? "/usr/bin/chromium";
const ARTIFACTS = join(REPO_ROOT, "test-artifacts", "dashboard");
const logger = pino({ level: process.env.PROPELLER_TEST_LOG ?? "silent" });
const HOSTILE = `<script>alert("x")</script><img src=x onerror=alert(1)>"'&`;

async function wat(name: string): Promise<{ digest: string; inline: string }> {
  const w = await wabt();
  const parsed = w.parseWat(`${name}.wat`, await readFile(join(EXAMPLES_DIR, "wat", `${name}.wat`), "utf8"));
  const bytes = Buffer.from(parsed.toBinary({}).buffer);
  parsed.destroy();
  return { digest: sha256Digest(bytes), inline: bytes.toString("base64") };
}

async function cli(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (t) => void out.push(t), err: (t) => void err.push(t) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

async function api<T>(url: string, method: string, path: string, key: string, body?: unknown): Promise<T> {
  const res = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${key}`, ...(body ? { "content-type": "application/json" } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : null) as T;
}

describeWhen(
  "operator dashboard in chromium",
  existsSync(CHROMIUM),
  { test: "needs chromium", why: `chromium is not at ${CHROMIUM}: .ci/run installs it (apt-get install chromium)`, skip: `no chromium at ${CHROMIUM} (apt-get install chromium)` },
  () => {
    const cleanups: Array<() => Promise<unknown>> = [];
    let manager: RunningManager;
    let kbsUrl: string;
    let adminKeyFile: string;
    let dir: string;
    let browser: Browser;
    let submitKey: string;
    let readKey: string;
    let loopTaskId: string;
    const problems: string[] = [];

    const shot = async (page: Page, name: string) => {
      await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
    };
    const signIn = async (context: BrowserContext, key: string, base = manager.url): Promise<Page> => {
      const page = await context.newPage();
      // Checked after each test: no script ran from page data, and no page broke its own CSP.
      page.on("dialog", (d) => {
        problems.push(`a dialog opened: ${d.message()}`);
        void d.dismiss();
      });
      page.on("console", (m) => {
        if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(`console: ${m.text()}`);
      });
      page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
      await page.goto(`${base}/ui`);
      expect(page.url()).toMatch(/\/ui\/login\?next=/);
      await page.fill("#credential", key);
      await Promise.all([page.waitForURL(/\/ui\/fleet$/), page.click("button[type=submit]")]);
      return page;
    };

    beforeAll(async () => {
      await mkdir(ARTIFACTS, { recursive: true });
      dir = await mkdtemp(join(tmpdir(), "e2e-dashboard-"));
      const managerDb = await createTestDatabase("e2e_ui_mgr");
      cleanups.push(() => managerDb.drop());
      const kbsDb = await createTestDatabase("e2e_ui_kbs");
      cleanups.push(() => kbsDb.drop());
      const admin = await adminKeygen({ id: "ops" });
      // The dashboard's own KBS key: the reader role only (it reads the audit log, nothing else).
      const reader = await adminKeygen({ id: "dashboard" });
      adminKeyFile = join(dir, "ops.key.jwk");
      await writeFile(adminKeyFile, JSON.stringify({ ...admin.privateJwk, kid: "ops" }), { mode: 0o600 });
      const kbs = await startKbs(
        {
          listen: { host: "127.0.0.1", port: 0 },
          databaseUrl: kbsDb.url,
          masterKey: randomBytes(32).toString("base64"),
          developmentMode: true,
          admin: {
            keys: [
              { id: "ops", publicKey: admin.publicJwk as Record<string, unknown>, roles: ["admin"] },
              { id: "dashboard", publicKey: reader.publicJwk as Record<string, unknown>, roles: ["reader"] },
            ],
          },
        } as Parameters<typeof startKbs>[0],
        { logger },
      );
      cleanups.push(() => kbs.close());
      kbsUrl = kbs.url;
      await setAttestationPolicy({ url: kbs.url, token: () => mintAdminToken({ ...admin.privateJwk, kid: "ops" }, { keyId: "ops" }) }, "sample", { id: "e2e/sample", requireReferenceValues: false, unsafeClaims: [] });

      const topicRoot = uniqueTopicRoot();
      manager = await startManager({
        databaseUrl: managerDb.url,
        mqtt: { url: TEST_MQTT_URL },
        topicRoot,
        http: { port: 0 },
        auth: E2E_AUTH,
        logger,
        ui: { kbs: { url: kbs.url, key: { id: "dashboard", pem: reader.privatePem } } },
      });
      cleanups.push(() => manager.close());
      for (const [id, tee] of [["tee-sample", { type: "sample" as const }], [`plain-${HOSTILE}`.slice(0, 60), null]] as const) {
        const proplet = await startProplet({ id: id.replace(/[^A-Za-z0-9_.-]/g, "-"), name: tee ? "sample TEE proplet" : `plain ${HOSTILE}`, mqtt: { url: TEST_MQTT_URL }, topicRoot, ...(tee ? { tee } : {}), logger });
        cleanups.push(() => proplet.close());
      }
      await waitFor(async () => (await api<{ items: Array<{ alive: boolean }> }>(manager.url, "GET", "/proplets", E2E_ADMIN_KEY)).items.filter((p) => p.alive).length === 2, 15_000, "proplets");
      submitKey = (await api<{ key: string }>(manager.url, "POST", "/apikeys", E2E_ADMIN_KEY, { name: "operator", scopes: ["read", "submit"] })).key;
      readKey = (await api<{ key: string }>(manager.url, "POST", "/apikeys", E2E_ADMIN_KEY, { name: "auditor", scopes: ["read"] })).key;
      const { chromium } = await import("playwright-core");
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
      cleanups.push(() => browser.close());
    }, 120_000);
    afterEach(() => {
      expect(problems.splice(0)).toEqual([]);
    });
    afterAll(async () => {
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
    });

    it("a submit key: sign in, fleet, submit a task, its live output, its receipt; an attested run's token claims", async () => {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      try {
        const page = await signIn(context, submitKey);
        // The session cookie: HttpOnly, SameSite=Strict, only for /ui.
        const [cookie] = await context.cookies();
        expect(cookie).toMatchObject({ name: "propeller_ui", httpOnly: true, sameSite: "Strict", path: "/ui" });
        expect(await page.evaluate("document.cookie")).toBe("");

        // Fleet: both proplets, the TEE one with its TEE; the hostile name shown as text.
        await page.waitForSelector("#fleet");
        const fleet = await page.textContent("#fleet");
        expect(fleet).toContain("sample TEE proplet");
        expect(fleet).toContain(`plain ${HOSTILE}`);
        expect(await page.locator("#fleet img").count()).toBe(0);
        expect(await page.locator("#fleet tr", { hasText: "sample TEE proplet" }).textContent()).toMatch(/alive.*sample/s);
        await shot(page, "fleet");

        // Submit a task from the Tasks page: the ticker writes a line every 300 ms.
        await page.click("nav >> text=Tasks");
        await page.click("summary:has-text('New task')");
        await page.fill("textarea[name=task]", JSON.stringify({ name: `ticker ${HOSTILE}`, artifact: await wat("ticker"), start: true, requirements: { tee: null } }));
        await shot(page, "tasks-new");
        await Promise.all([page.waitForURL(/\/ui\/tasks\/[^/]+$/), page.click("button[data-action=submit]")]);
        expect(await page.textContent("h1")).toBe(`ticker ${HOSTILE}`);
        await shot(page, "task");
        // Its run: output streams in while it runs, then the page reloads with result and receipt.
        await page.click("#runs a");
        // The run was still going when its page opened: the output below comes from the live stream.
        expect(["queued", "scheduled", "running"]).toContain(await page.getAttribute("#log", "data-state"));
        // Locators, not page functions: the page's CSP refuses eval, which waitForFunction needs.
        await page.locator("#log", { hasText: "tick" }).waitFor({ timeout: 20_000 });
        await page.waitForSelector("#receipt-verdict", { timeout: 30_000 });
        expect(await page.textContent("#log")).toContain("tick\ntick\ntick\ntick\ntick\n");
        expect(await page.textContent("#log")).toContain("done");
        expect(await page.textContent("#receipt-verdict")).toMatch(/Verified by the manager · not attested/);
        expect(await page.textContent("#receipt-claims")).toMatch(/taskId/);
        await shot(page, "run-receipt");

        // A confidential run (CLI: encrypt, run): its receipt carries the EAR token, whose claims show.
        const wasm = join(EXAMPLES_DIR, "hello", "hello.wasm");
        const sealed = join(dir, "hello.wasm.age");
        const enc = await cli(["encrypt", wasm, "--out", sealed, "--kbs", kbsUrl, "--resource", "e2e/key/hello-ui", "--tee", "sample", "--admin-key", adminKeyFile, "--json"]);
        expect(enc.code, enc.err).toBe(0);
        const { plaintextDigest, resource } = JSON.parse(enc.out) as { plaintextDigest: string; resource: string };
        const run = await cli(["run", sealed, "ui", "--confidential", "--tee", "sample", "--kbs", kbsUrl, "--resource", resource, "--plaintext-digest", plaintextDigest, "--manager", manager.url, "--token", submitKey, "--json"]);
        expect(run.code, run.err).toBe(0);
        const task = JSON.parse(run.out.slice(0, run.out.lastIndexOf("}") + 1)) as { id: string; latestRun: { id: string } };
        await page.goto(`${manager.url}/ui/tasks/${task.id}/runs/${task.latestRun.id}`);
        expect(await page.textContent("#receipt-verdict")).toMatch(/Verified by the manager · attested/);
        expect(await page.textContent("#ear-claims")).toMatch(/ear\.status|affirming/);
        expect(await page.textContent("#stdout")).toContain("Hello, ui!");
        await shot(page, "run-attested");

        // The fleet now knows the TEE proplet attested.
        await page.goto(`${manager.url}/ui/fleet`);
        const teeRow = page.locator("#fleet tr", { hasText: "sample TEE proplet" });
        expect(await teeRow.textContent()).toContain("attested");
        // Free memory comes from the heartbeats (the manager's /metrics): there by now or soon.
        await waitFor(async () => {
          await page.reload();
          return !(await teeRow.locator("td").nth(5).textContent())!.startsWith("—");
        }, 15_000, "free memory from a heartbeat");
        await shot(page, "fleet-attested");
        // The README's picture (docs/img/dashboard-fleet.png is a copy): small, the fleet table only.
        await page.setViewportSize({ width: 1100, height: 300 });
        await page.screenshot({ path: join(ARTIFACTS, "readme-fleet.png"), fullPage: true });
        await page.setViewportSize({ width: 1280, height: 800 });

        // A runaway task the read key will fail to stop.
        const loop = await api<{ id: string }>(manager.url, "POST", "/tasks", submitKey, { name: "runaway", artifact: await wat("loop"), limits: { timeoutMs: 120_000 }, start: true });
        loopTaskId = loop.id;
        await waitFor(async () => (await api<{ latestRun: { state: string } | null }>(manager.url, "GET", `/tasks/${loop.id}`, submitKey)).latestRun?.state === "running", 15_000, "loop running");

        // A task no proplet can take waits with a reason; the Tasks page filters on it.
        const waiting = await api<{ id: string }>(manager.url, "POST", "/tasks", submitKey, { name: "needs snp", artifact: await wat("ticker"), requirements: { tee: "snp" }, start: true });
        await waitFor(async () => (await api<{ pendingReason: string | null }>(manager.url, "GET", `/tasks/${waiting.id}`, submitKey)).pendingReason, 15_000, "pending reason");
        await page.goto(`${manager.url}/ui/tasks?pending=*`);
        expect(await page.locator("#tasks tbody tr").count()).toBe(1);
        expect(await page.textContent("#tasks")).toContain("needs snp");
        await shot(page, "tasks-pending");

        // Workflows as a graph, cron, functions, KBS audit.
        await api(manager.url, "POST", "/workflows", submitKey, {
          name: "diamond",
          nodes: [
            { name: "a", task: { artifact: await wat("ticker") } },
            { name: "b", task: { artifact: await wat("ticker") }, dependsOn: ["a"] },
            { name: "c", task: { artifact: await wat("ticker") }, dependsOn: ["a"] },
            { name: "d", task: { artifact: await wat("ticker") }, dependsOn: ["b", "c"] },
          ],
        });
        await api(manager.url, "POST", "/tasks", submitKey, { name: "nightly", artifact: await wat("ticker"), schedule: { cron: "0 3 * * *" } });
        await page.click("nav >> text=Workflows");
        await page.click("#workflows a");
        expect(await page.locator("#graph .node").count()).toBe(4);
        expect(await page.locator("#graph .edge").count()).toBe(4);
        await shot(page, "workflow-graph");
        await page.click("nav >> text=Cron");
        expect(await page.textContent("#cron")).toContain("0 3 * * *");
        await shot(page, "cron");
        await page.click("nav >> text=Functions");
        await shot(page, "functions");
        await page.click("nav >> text=KBS audit");
        await page.waitForSelector("#kbs-audit");
        expect(await page.textContent("#kbs-audit")).toMatch(/release/);
        await shot(page, "kbs-audit");
      } finally {
        await context.close();
      }
    }, 180_000);

    it("a read key sees the tasks but has no actions, and a forged stop is refused; the submit key stops it", async () => {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      try {
        const page = await signIn(context, readKey);
        expect(await page.textContent("nav")).toContain("read-only");
        await page.goto(`${manager.url}/ui/tasks/${loopTaskId}`);
        expect(await page.textContent(".task")).toContain("running");
        expect(await page.locator("button[data-action=stop]").count()).toBe(0);
        expect(await page.locator("button[data-action]").count()).toBe(0);
        await shot(page, "read-only-task");
        // The page's own CSRF token, a same-origin POST: the REST API's scope check refuses it.
        const csrf = await page.getAttribute("nav input[name=csrf]", "value");
        const forged = await page.evaluate(async ([id, token]) => {
          const r = await fetch(`/ui/tasks/${id}/stop`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: `csrf=${token}` });
          return { status: r.status, text: await r.text() };
        }, [loopTaskId, csrf] as const);
        expect(forged.status).toBe(403);
        expect(forged.text).toMatch(/needs the &quot;submit&quot; scope|insufficient_scope/);
        expect((await api<{ latestRun: { state: string } }>(manager.url, "GET", `/tasks/${loopTaskId}`, readKey)).latestRun.state).toBe("running");
      } finally {
        await context.close();
      }
      const context2 = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      try {
        const page = await signIn(context2, submitKey);
        await page.goto(`${manager.url}/ui/tasks/${loopTaskId}`);
        await Promise.all([page.waitForURL(new RegExp(`/ui/tasks/${loopTaskId}$`)), page.click("button[data-action=stop]")]);
        await waitFor(async () => (await api<{ latestRun: { state: string } }>(manager.url, "GET", `/tasks/${loopTaskId}`, readKey)).latestRun.state === "stopped", 15_000, "loop stopped");
        await page.reload();
        expect(await page.locator("button[data-action='re-run']").count()).toBe(1);
        await shot(page, "task-stopped");
        // Signing out ends the session: the next page goes to the sign-in form.
        await Promise.all([page.waitForURL(/\/ui\/login$/), page.click("nav button:has-text('Sign out')")]);
        await page.goto(`${manager.url}/ui/tasks/${loopTaskId}`);
        expect(page.url()).toMatch(/\/ui\/login\?next=/);
        // Signing in again returns to the page that was asked for.
        await page.fill("#credential", readKey);
        await Promise.all([page.waitForURL(new RegExp(`/ui/tasks/${loopTaskId}$`)), page.click("button[type=submit]")]);
        await Promise.all([page.waitForURL(/\/ui\/login$/), page.click("nav button:has-text('Sign out')")]);
        await shot(page, "login");
      } finally {
        await context2.close();
      }
    }, 120_000);

    it("strict headers on every page; no cookie, a wrong key or another site's form get nothing", async () => {
      const res = await fetch(`${manager.url}/ui/login`);
      expect(res.headers.get("content-security-policy")).toMatch(/default-src 'self'/);
      expect(res.headers.get("content-security-policy")).not.toMatch(/unsafe-inline/);
      expect(res.headers.get("x-frame-options")).toBe("DENY");
      expect((await fetch(`${manager.url}/ui/fleet`, { redirect: "manual" })).status).toBe(303);
      expect((await fetch(`${manager.url}/ui/fleet`, { redirect: "manual", headers: { cookie: "propeller_ui=prop_nope_nope" } })).status).toBe(401);
      const cross = await fetch(`${manager.url}/ui/tasks/${loopTaskId}/start`, { method: "POST", redirect: "manual", headers: { cookie: `propeller_ui=${submitKey}`, origin: "https://evil.example", "content-type": "application/x-www-form-urlencoded" }, body: "csrf=x" });
      expect(cross.status).toBe(403);
      const noToken = await fetch(`${manager.url}/ui/tasks/${loopTaskId}/start`, { method: "POST", redirect: "manual", headers: { cookie: `propeller_ui=${submitKey}`, "content-type": "application/x-www-form-urlencoded" }, body: "" });
      expect(noToken.status).toBe(403);
    });

    it("live output resumes after its stream is cut and the reconnect refused (as in a restart): every line once, in order", async () => {
      // A reverse proxy in front of the manager, standing in for a restart: it can cut the open
      // log streams and answer 503 to stream requests while "down" (EventSource then gives up:
      // CLOSED), so the page's script has to open the stream again from the last line it showed.
      const target = new URL(manager.url);
      const open = new Set<ServerResponse>();
      const streamUrls: string[] = [];
      let refused = 0;
      let down = false;
      const proxy = createServer((req, res) => {
        const isStream = (req.url ?? "").includes("/logs/stream");
        if (isStream) streamUrls.push(req.url ?? "");
        if (isStream && down) {
          refused++;
          res.writeHead(503, { "content-type": "text/plain" }).end("restarting");
          return;
        }
        const up = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
          if (isStream) {
            open.add(res);
            res.on("close", () => open.delete(res));
          }
        });
        up.on("error", () => res.destroy());
        res.on("close", () => up.destroy());
        req.pipe(up);
      });
      await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
      const base = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      try {
        const page = await signIn(context, submitKey, base);
        const task = await api<{ id: string }>(manager.url, "POST", "/tasks", submitKey, { name: "numbered-lines", artifact: await wat("numbered-lines"), requirements: { tee: null }, start: true });
        const runId = await waitFor(async () => (await api<{ latestRun: { id: string } | null }>(manager.url, "GET", `/tasks/${task.id}`, submitKey)).latestRun?.id, 10_000, "the run");
        await page.goto(`${base}/ui/tasks/${task.id}/runs/${runId}`);
        expect(["queued", "scheduled", "running"]).toContain(await page.getAttribute("#log", "data-state"));
        await page.locator("#log", { hasText: "line 03" }).waitFor({ timeout: 20_000 });
        const shownBefore = Number(await page.getAttribute("#log", "data-chunks"));
        down = true;
        for (const res of open) res.socket?.destroy();
        // Down until the browser's own reconnect and at least one of the script's were refused.
        await waitFor(() => refused >= 2 && streamUrls.some((u) => u.includes("?after=")), 20_000, "the page's own reconnect");
        await page.locator("#log-state", { hasText: "interrupted" }).waitFor({ timeout: 5_000 });
        down = false;
        await page.waitForSelector("#log[data-ended]", { timeout: 30_000 });
        // Read before the page reloads itself (800 ms after the end): what the live path showed.
        const text = await page.textContent("#log");
        const expected = Array.from({ length: 24 }, (_, i) => `line ${String(i + 1).padStart(2, "0")}\n`).join("") + "done\n";
        expect(text).toBe(expected);
        expect(Number(await page.getAttribute("#log", "data-resumes"))).toBeGreaterThanOrEqual(1);
        // The script resumed after the last chunk it had shown, not from the start.
        const resumedAfter = streamUrls.filter((u) => u.includes("?after=")).map((u) => Number(new URL(u, base).searchParams.get("after")));
        expect(Math.min(...resumedAfter)).toBeGreaterThanOrEqual(shownBefore);
        await shot(page, "run-resumed");
      } finally {
        await context.close();
        await new Promise((r) => proxy.close(r));
      }
      // The relay refuses an ?after= that is not a seq.
      const bad = await fetch(`${manager.url}/ui/tasks/x/runs/y/logs/stream?after=-1`, { headers: { cookie: `propeller_ui=${submitKey}` } });
      expect(bad.status).toBe(400);
    }, 120_000);
  },
);
