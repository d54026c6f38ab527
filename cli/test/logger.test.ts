/** The CLI's logs as a person reads them in a terminal: one line, no JSON braces, the fields kept. */
import { describe, expect, it } from "vitest";
import { cliLogger, formatLogLine, prettyStream } from "../logger.js";
import pino from "pino";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

describe("readable log lines", () => {
  it("time, level, box, message, then the fields; an error shows its message", () => {
    const line = JSON.stringify({ level: 40, time: Date.UTC(2026, 0, 2, 3, 4, 5), box: "kbs", url: "http://127.0.0.1:8080", msg: "KBS in DEVELOPMENT MODE", err: { message: "boom", stack: "x" }, n: 3, tags: ["a b"] });
    expect(formatLogLine(line)).toBe('03:04:05 WARN  kbs: KBS in DEVELOPMENT MODE  url=http://127.0.0.1:8080 err=boom n=3 tags=["a b"]');
    expect(formatLogLine("not json\n")).toBe("not json");
  });

  it("a pino logger on the pretty stream writes no JSON, and redaction still applies", () => {
    const lines: string[] = [];
    const log = pino({ redact: ["token"] }, prettyStream((t) => void lines.push(t)));
    log.info({ box: "manager", token: "prop_secret_value" }, "started");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d INFO {2}manager: started {2}token=\[Redacted\]\n$/);
    expect(lines[0]).not.toContain("{");
  });

  it("--log-file gets JSON lines (for tools), redacted", async () => {
    const dir = await mkdtemp(join(tmpdir(), "propeller-log-"));
    try {
      const file = join(dir, "sub", "up.log");
      const log = cliLogger("info", file);
      log.warn({ box: "kbs", token: "prop_secret_value" }, "hello");
      log.debug("not at info");
      const lines = (await readFile(file, "utf8")).trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0]!)).toMatchObject({ level: 40, box: "kbs", msg: "hello", token: "[redacted]" });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
