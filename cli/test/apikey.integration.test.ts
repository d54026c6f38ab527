/**
 * `propeller apikey …` and the CLI's credential lookup, against a real manager (embedded stack:
 * aedes + PGlite), through `main` as a user runs it.
 */
import { chmod, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../main.js";
import { resolveManagerToken } from "../manager-client.js";
import { startStack, type Stack } from "../stack.js";
import { writeManagerToken } from "../commands/up.js";

async function cli(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (t) => void out.push(t), err: (t) => void err.push(t) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("propeller apikey", () => {
  let stack: Stack;
  let dir: string;
  const savedToken = process.env.PROPELLER_TOKEN;
  const savedCwd = process.cwd();

  beforeAll(async () => {
    delete process.env.PROPELLER_TOKEN;
    stack = await startStack({ proplets: 0, logger: pino({ level: "silent" }) });
    dir = await mkdtemp(join(tmpdir(), "apikey-cli-"));
  });
  afterAll(async () => {
    process.chdir(savedCwd);
    if (savedToken !== undefined) process.env.PROPELLER_TOKEN = savedToken;
    await stack?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("generates a key offline", async () => {
    const r = await cli(["apikey", "generate"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^prop_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    const again = await cli(["apikey", "generate", "--json"]);
    expect(JSON.parse(again.out).key).not.toBe(r.out);
  });

  it("creates, lists and revokes keys through the API; a revoked key is refused at once", async () => {
    const admin = ["--manager", stack.managerUrl, "--token", stack.managerToken];
    const created = await cli(["apikey", "create", "--name", "ci reader", "--scopes", "read", ...admin]);
    expect(created.code).toBe(0);
    const key = created.out.trim();
    expect(key).toMatch(/^prop_/);
    expect(created.err).toMatch(/shown only now/);
    const keyId = key.split("_")[1]!;

    const listed = await cli(["apikey", "list", ...admin]);
    expect(listed.code).toBe(0);
    expect(listed.out).toContain(keyId);
    expect(listed.out).toContain("ci reader");
    expect(listed.out).not.toContain(key.slice(22));

    expect((await cli(["task", "list", "--manager", stack.managerUrl, "--token", key])).code).toBe(0);
    // A read key cannot manage keys.
    const forbidden = await cli(["apikey", "list", "--manager", stack.managerUrl, "--token", key]);
    expect(forbidden.code).toBe(1);
    expect(forbidden.err).toMatch(/403.*admin/);

    expect((await cli(["apikey", "revoke", keyId, ...admin])).code).toBe(0);
    const refused = await cli(["task", "list", "--manager", stack.managerUrl, "--token", key]);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/401.*revoked/);
    expect((await cli(["apikey", "list", ...admin, "--json"])).out).toMatch(/"revokedAt": "\d{4}-/);

    const bad = await cli(["apikey", "create", "--name", "x", "--scopes", "root", ...admin]);
    expect(bad.code).toBe(2);
  });

  it("without --token or PROPELLER_TOKEN, reads .propeller/manager-token; without any, says how to authenticate", async () => {
    const noCredential = await cli(["task", "list", "--manager", stack.managerUrl]);
    expect(noCredential.code).toBe(1);
    expect(noCredential.err).toMatch(/401.*--token.*PROPELLER_TOKEN/);

    // As `propeller up` writes it: 0600, even over a file that was readable by others.
    const written = await writeManagerToken(join(dir, ".propeller"), stack.managerToken);
    expect(written).toBe(join(dir, ".propeller", "manager-token"));
    await chmod(written, 0o644);
    await writeManagerToken(join(dir, ".propeller"), stack.managerToken);
    expect((await stat(written)).mode & 0o777).toBe(0o600);
    expect(resolveManagerToken(undefined, join(dir, ".propeller", "manager-token"))).toBe(stack.managerToken);
    process.chdir(dir);
    try {
      expect((await cli(["task", "list", "--manager", stack.managerUrl])).code).toBe(0);
      // An explicit token wins over the file.
      expect((await cli(["task", "list", "--manager", stack.managerUrl, "--token", "prop_000000000000_" + "A".repeat(43)])).code).toBe(1);
    } finally {
      process.chdir(savedCwd);
    }
  });

  it("a restarted stack on the same database revokes the previous start's bootstrap key", async () => {
    const databaseUrl = `pglite://${join(dir, "db")}`;
    const first = await startStack({ proplets: 0, databaseUrl, logger: pino({ level: "silent" }) });
    const oldToken = first.managerToken;
    await first.close();
    const second = await startStack({ proplets: 0, databaseUrl, logger: pino({ level: "silent" }) });
    try {
      const refused = await cli(["task", "list", "--manager", second.managerUrl, "--token", oldToken]);
      expect(refused.err).toMatch(/401.*revoked/);
      expect((await cli(["task", "list", "--manager", second.managerUrl, "--token", second.managerToken])).code).toBe(0);
    } finally {
      await second.close();
    }
  });
});
