/**
 * Where `propeller up` keeps its state and how every other command finds the manager and its
 * token there: the directory's precedence, the token sent only to the manager that wrote it, and
 * what an unreachable manager's message tells the user to do.
 */
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { resolveConnection } from "../manager-client.js";
import { defaultStateDir, lockStateDir, stateKey, STATE_FILES, writeStackInfo } from "../state-dir.js";
import { writeManagerToken } from "../commands/up.js";

let root: string;
const saved = { ...process.env };
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "propeller-state-test-"));
});
afterAll(async () => rm(root, { recursive: true, force: true }));
afterEach(() => {
  for (const k of ["PROPELLER_STATE_DIR", "PROPELLER_MANAGER_URL", "PROPELLER_TOKEN"]) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

describe("the state directory", () => {
  it("PROPELLER_STATE_DIR, else $XDG_STATE_HOME/propeller (absolute only), else ~/.local/state/propeller", () => {
    expect(defaultStateDir({ PROPELLER_STATE_DIR: "/srv/p", XDG_STATE_HOME: "/x" })).toBe("/srv/p");
    expect(defaultStateDir({ XDG_STATE_HOME: "/x" })).toBe("/x/propeller");
    expect(defaultStateDir({ XDG_STATE_HOME: "relative" })).toBe(join(homedir(), ".local", "state", "propeller"));
    expect(defaultStateDir({})).toBe(join(homedir(), ".local", "state", "propeller"));
  });

  it("keys are made once (0600) and read back the same at the next start", async () => {
    const dir = join(root, "keys");
    await writeManagerToken(dir, "prop_x");
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    const key = await stateKey(dir, STATE_FILES.secretsKey);
    expect(Buffer.from(key, "base64")).toHaveLength(32);
    expect(await stateKey(dir, STATE_FILES.secretsKey)).toBe(key);
    expect((await stat(join(dir, STATE_FILES.secretsKey))).mode & 0o777).toBe(0o600);
    await writeFile(join(dir, "bad.key"), "short\n");
    await expect(stateKey(dir, "bad.key")).rejects.toThrow(/does not hold a 32-byte base64 key; restore it/);
  });

  it("one `up` per directory; a lock left by a dead process is taken over", async () => {
    const dir = join(root, "lock");
    await writeManagerToken(dir, "prop_x");
    const release = await lockStateDir(dir);
    // This process holds it: another claim from a live pid (our parent's) is refused.
    await writeFile(join(dir, STATE_FILES.lock), `${process.ppid}\n`);
    await expect(lockStateDir(dir)).rejects.toThrow(new RegExp(`another \`propeller up\` \\(pid ${process.ppid}\\) is using ${dir}; stop it first, or give this one its own --state-dir`));
    await writeFile(join(dir, STATE_FILES.lock), "999999999\n");
    const again = await lockStateDir(dir);
    await again();
    await release();
  });
});

describe("finding the manager", () => {
  it("a fresh state directory and nothing set: the default URL, no token, and how to start a manager", () => {
    const dir = join(root, "fresh");
    const c = resolveConnection({ "state-dir": dir });
    expect(c.baseUrl).toBe("http://127.0.0.1:7070");
    expect(c.token).toBeUndefined();
    expect(c.unreachableHint).toContain(`start one with \`propeller up\` (state in ${dir})`);
  });

  it("the URL and token `up` wrote; the token goes only to that manager", async () => {
    const dir = join(root, "up");
    await writeManagerToken(dir, "prop_state_token");
    await writeStackInfo(dir, { managerUrl: "http://127.0.0.1:17777", brokerUrl: "mqtt://x", kbsUrl: null, pid: 1, startedAt: "now" });
    const mine = resolveConnection({ "state-dir": dir });
    expect(mine).toMatchObject({ baseUrl: "http://127.0.0.1:17777", token: "prop_state_token" });
    expect(mine.unreachableHint).toBe(`the manager \`propeller up\` started with state in ${dir} is not running: start it again with \`propeller up --state-dir ${dir}\``);
    process.env.PROPELLER_STATE_DIR = dir;
    expect(resolveConnection({})).toMatchObject({ baseUrl: "http://127.0.0.1:17777", token: "prop_state_token" });
    expect(resolveConnection({}).unreachableHint).toMatch(/start it again with `propeller up`$/);
    // Another manager, named by a flag or the environment: never the local stack's token.
    expect(resolveConnection({ manager: "https://prod.example:7070" }).token).toBeUndefined();
    process.env.PROPELLER_MANAGER_URL = "https://prod.example:7070";
    expect(resolveConnection({}).token).toBeUndefined();
    expect(resolveConnection({}).unreachableHint).toMatch(/Start one with `propeller up`, or correct PROPELLER_MANAGER_URL/);
    // An explicit token always wins.
    expect(resolveConnection({ token: "prop_flag" }).token).toBe("prop_flag");
  });
});
