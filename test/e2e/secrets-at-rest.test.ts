/**
 * Secret env values at rest, on real PostgreSQL: the workload gets them (exit code 42 from
 * EXIT_CODE), yet a pg_dump of the manager's database, a SELECT of every row of every table as
 * text, every log line (trace level) and every API response hold neither value. They are sealed
 * with the manager's secrets key (never in the database): a restart with the same key starts the
 * task again with its secrets; a manager with another key refuses to run it and says why.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import pg from "pg";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../../cli/stack.js";
import { ManagerClient } from "../../cli/manager-client.js";
import { createTestDatabase, type TestDatabase } from "../../testing/postgres.js";
import { TEST_MQTT_URL } from "../../testing/mosquitto.js";
import { uniqueTopicRoot } from "../../testing/net.js";
import { exampleArtifact, waitForProplets } from "./helpers.js";

const run = promisify(execFile);

// hello exits with atoi(EXIT_CODE): 42 proves the guest got the value; the tail is what must never show.
const SECRET_EXIT = `+0000000042-${randomBytes(9).toString("hex")}`;
const SECRET_TOKEN = `sk-live-${randomBytes(12).toString("hex")}`;
const SECRET_PATCHED = `+0000000042-patched-${randomBytes(9).toString("hex")}`;
const SECRET_LEGACY = `+0000000042-legacy-${randomBytes(9).toString("hex")}`;
const SECRETS = [SECRET_EXIT, SECRET_TOKEN, SECRET_PATCHED, SECRET_LEGACY];

describe("secret env values at rest (PostgreSQL)", () => {
  const lines: string[] = [];
  const responses: string[] = [];
  const logger = pino(
    { level: "trace" },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    }),
  );
  const key = randomBytes(32);
  let db: TestDatabase;
  let stack: Stack | undefined;
  let topicRoot: string;

  const startWith = async (secretsKey: Buffer) => {
    const s = await startStack({ proplets: 1, logger, mqttUrl: TEST_MQTT_URL, databaseUrl: db.url, topicRoot, secretsKey });
    const client = new ManagerClient({ baseUrl: s.managerUrl, token: s.managerToken });
    await waitForProplets(client, 1);
    return { s, client };
  };
  /** Every call's reply is kept, to be searched too. */
  const call = async <T>(client: ManagerClient, method: string, path: string, body?: unknown): Promise<T> => {
    const reply = await client.request<T>(method, path, body);
    responses.push(JSON.stringify(reply ?? null));
    return reply;
  };

  beforeAll(async () => {
    db = await createTestDatabase("propeller_secrets");
    topicRoot = uniqueTopicRoot();
  });
  afterAll(async () => {
    await stack?.close();
    await db?.drop();
  });

  it("the guest gets them; the database, logs and responses never hold them; a restart keeps them usable", async () => {
    const first = await startWith(key);
    stack = first.s;
    const artifact = await exampleArtifact("hello/hello.wasm");
    type T = { id: string; state: string; secretEnvNames: string[]; latestRun: { result: { exitCode: number } | null } | null };
    const created = await call<T>(first.client, "POST", "/tasks", { name: "sealed", artifact, env: { GREETING: "Hi" }, secretEnv: { EXIT_CODE: SECRET_EXIT, API_TOKEN: SECRET_TOKEN }, start: true });
    expect(created.secretEnvNames).toEqual(["API_TOKEN", "EXIT_CODE"]);
    const done = await first.client.waitForFinish(created.id, 30_000);
    responses.push(JSON.stringify(done));
    expect(done.latestRun!.result!.exitCode).toBe(42);
    expect(done.latestRun!.receiptCheck?.ok).toBe(true);

    // A second task whose secret is replaced by PATCH: the old value is gone, the new one sealed.
    const other = await call<T>(first.client, "POST", "/tasks", { name: "patched", artifact, secretEnv: { EXIT_CODE: "7" } });
    const patched = await call<T>(first.client, "PATCH", `/tasks/${other.id}`, { secretEnv: { EXIT_CODE: SECRET_PATCHED } });
    expect(patched.secretEnvNames).toEqual(["EXIT_CODE"]);
    // A PATCH that does not touch secretEnv keeps the sealed values (opened, checked, sealed again).
    await call(first.client, "PATCH", `/tasks/${other.id}`, { args: ["again"] });
    await call(first.client, "POST", `/tasks/${other.id}/start`);
    const otherDone = await first.client.waitForFinish(other.id, 30_000);
    expect(otherDone.latestRun!.result!.exitCode).toBe(42);

    for (const route of first.s.manager.routes.filter((r) => r.method === "GET")) {
      const path = route.url.replace(":runId", done.latestRun!.id).replace(":id", route.url.startsWith("/proplets") ? "proplet-1" : route.url.startsWith("/apikeys") ? "x" : created.id);
      const response = await fetch(`${first.s.managerUrl}${path}`, { headers: { authorization: `Bearer ${first.s.managerToken}` } });
      responses.push(await response.text());
    }

    // A row as a manager before sealing wrote it: secret values in the clear in the spec.
    const legacy = await call<T>(first.client, "POST", "/tasks", { name: "legacy", artifact });
    const pgc = new pg.Client({ connectionString: db.url });
    await pgc.connect();
    try {
      await pgc.query(`UPDATE tasks SET spec = (spec - 'sealedSecretEnv') || jsonb_build_object('secretEnv', jsonb_build_object('EXIT_CODE', $2::text)) WHERE id = $1`, [legacy.id, SECRET_LEGACY]);
      expect((await pgc.query("SELECT spec::text AS s FROM tasks WHERE id = $1", [legacy.id])).rows[0].s).toContain(SECRET_LEGACY);
    } finally {
      await pgc.end();
    }

    // Restart with the same key: the older row is sealed at start; the stored tasks start again and
    // their guests still get the values.
    await first.s.close();
    stack = undefined;
    const second = await startWith(key);
    stack = second.s;
    expect(lines.join("")).toContain("sealed the secret env values older task rows held in the clear");
    await call(second.client, "POST", `/tasks/${legacy.id}/start`);
    expect((await second.client.waitForFinish(legacy.id, 30_000)).latestRun!.result!.exitCode).toBe(42);
    await call(second.client, "POST", `/tasks/${created.id}/start`);
    const again = await second.client.waitForFinish(created.id, 30_000);
    expect(again.latestRun!.result!.exitCode).toBe(42);
    await second.s.close();
    stack = undefined;

    // Another key: the run fails with the reason, nothing is sent.
    const third = await startWith(randomBytes(32));
    stack = third.s;
    await call(third.client, "POST", `/tasks/${created.id}/start`);
    const refused = await third.client.waitForFinish(created.id, 30_000);
    expect(refused.state).toBe("failed");
    expect(refused.latestRun!.result!.error!.message).toMatch(/sealed with secrets key [0-9a-f]{16}, and this manager has key [0-9a-f]{16}/);
    await third.s.close();
    stack = undefined;

    // The database: every row of every table as text, and pg_dump.
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    let rows = "";
    try {
      const tables = await client.query<{ schemaname: string; tablename: string }>("SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')");
      expect(tables.rows.length).toBeGreaterThan(5);
      for (const t of tables.rows) {
        const r = await client.query<{ row: string }>(`SELECT row_to_json(x)::text AS row FROM "${t.schemaname}"."${t.tablename}" x`);
        rows += r.rows.map((x) => x.row).join("\n") + "\n";
      }
    } finally {
      await client.end();
    }
    const { stdout: dump } = await run("pg_dump", ["--data-only", db.url], { maxBuffer: 256 * 1024 * 1024 });
    // The searches look where the data is: the rows hold the task, its sealed secrets and its runs.
    expect(rows).toContain(created.id);
    expect(rows).toContain("sealedSecretEnv");
    expect(dump).toContain(created.id);
    const log = lines.join("");
    expect(log).toContain(created.id);
    expect(responses.join("\n")).toContain(created.id);
    for (const secret of SECRETS) {
      // The distinctive tail of each value (the leading digits are the guest's exit code).
      const tail = secret.slice(secret.lastIndexOf("-") + 1);
      for (const [where, text] of [["rows", rows], ["pg_dump", dump], ["logs", log], ["responses", responses.join("\n")]] as const) {
        expect(text.includes(tail), `${where} hold a secret value`).toBe(false);
        expect(text.includes(Buffer.from(secret).toString("base64").slice(0, 16)), `${where} hold a secret value in base64`).toBe(false);
      }
    }
  }, 120_000);
});
