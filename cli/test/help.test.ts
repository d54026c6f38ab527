/**
 * Every command and subcommand answers --help and -h with its own usage on stdout, exit 0, and runs
 * nothing. The list comes from the command table (and the usage table's subcommands), so a command
 * added later is covered without touching this file.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { commandNames, HELP, main } from "../main.js";
import { USAGE } from "../usage.js";

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) }, out, err };
}

async function cli(argv: string[]) {
  const c = capture();
  const code = await main(argv, c.io);
  return { code, out: c.out.join("\n"), err: c.err.join("\n") };
}

const subcommands = Object.keys(USAGE).filter((k) => k.includes(" "));

describe("--help", () => {
  it.each(commandNames())("propeller %s --help / -h prints its usage", async (name) => {
    for (const flag of ["--help", "-h"]) {
      const r = await cli([name, flag]);
      expect(r.code, `${name} ${flag}: ${r.err}`).toBe(0);
      expect(r.err).toBe("");
      expect(r.out).toMatch(new RegExp(`^usage:[\\s\\S]*propeller ${name}\\b`));
      // Its own usage, not the overview of every command.
      expect(r.out).not.toBe(HELP);
    }
    expect((await cli(["help", name])).out).toBe((await cli([name, "--help"])).out);
  });

  it.each(subcommands)("propeller %s --help prints that subcommand's usage", async (path) => {
    const words = path.split(" ");
    const r = await cli([...words, "--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(USAGE[path]);
    expect(r.out).toContain(`propeller ${path}`);
    // The flag may come after other arguments and options.
    expect((await cli([...words, "some-id", "--json", "-h"])).out).toBe(USAGE[path]);
  });

  it("a command the table does not describe still gets its lines of the overview", async () => {
    const { usageFor } = await import("../usage.js");
    const overview = "usage: …\n\n  frob <x> [--y]\n        frobs x\n  other thing\n";
    expect(usageFor(["frob", "--help"], overview, ["frob", "other"])).toBe("usage: propeller frob …\n  frob <x> [--y]\n        frobs x");
    expect(usageFor(["nope"], overview, ["frob"])).toBeUndefined();
  });

  it("--help after `--` belongs to the guest, not to propeller", async () => {
    const r = await cli(["run", "/nonexistent/app.wasm", "--", "--help"]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/app\.wasm/);
  });

  it("no command: the overview on stderr, exit 2; `propeller help`: on stdout, exit 0", async () => {
    const none = await cli([]);
    expect(none.code).toBe(2);
    expect(none.err).toBe(HELP);
    const help = await cli(["help"]);
    expect(help.code).toBe(0);
    expect(help.out).toBe(HELP);
  });
});

/** Command paths that run something: no other path extends them. */
const leaves = Object.keys(USAGE).filter((k) => !Object.keys(USAGE).some((o) => o.startsWith(`${k} `)));

describe("--json everywhere", () => {
  // The option tables themselves answer: an unknown option's error lists every valid one.
  it.each(leaves)("propeller %s takes --json", async (path) => {
    const r = await cli([...path.split(" "), "--json", "--no-such-option"]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown option --no-such-option; valid options: .*--json/);
  });
});

describe("wrong flags and commands", () => {
  it("an unknown option names the nearest valid one, lists them all and points to --help", async () => {
    const r = await cli(["run", "app.wasm", "--tiemout", "5"]);
    expect(r.code).toBe(2);
    expect(r.out).toBe("");
    expect(r.err).toContain("unknown option --tiemout (did you mean --timeout?)");
    expect(r.err).toMatch(/valid options: .*--secret-env.*--wait/);
    expect(r.err).toContain("`propeller run --help`");
  });

  it.each([
    [["task", "list", "--stat", "x"], "task list", "--state"],
    [["apikey", "create", "--scope", "read"], "apikey create", "--scopes"],
    [["workflow", "wait", "wf", "--timout", "1"], "workflow wait", "--timeout"],
  ])("%j", async (argv, command, near) => {
    const r = await cli(argv);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`(did you mean ${near}?)`);
    expect(r.err).toContain(`\`propeller ${command} --help\``);
  });

  it("an unknown subcommand or command says what exists and where help is", async () => {
    const sub = await cli(["task", "frob"]);
    expect(sub.code).toBe(2);
    expect(sub.err).toMatch(/unknown task command "frob".*create.*`propeller task --help`/);
    const top = await cli(["frob"]);
    expect(top.code).toBe(2);
    expect(top.err).toMatch(/unknown command "frob"; the commands are up, demo, run/);
  });

  it("a failed system call (here: a state directory under a file) is its message, not a stack trace", async () => {
    const dir = await mkdtemp(join(tmpdir(), "propeller-sys-"));
    try {
      await writeFile(join(dir, "file"), "");
      const r = await cli(["up", "--state-dir", join(dir, "file", "state")]);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/^propeller: ENOTDIR: not a directory, mkdir '.*file\/state'$/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
