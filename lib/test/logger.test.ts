import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { childLogger, createLogger } from "../logger.js";

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { stream, lines: () => chunks.join("").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe("createLogger", () => {
  it("writes JSON lines named after the box, with the shared child fields", () => {
    const out = capture();
    const log = createLogger("proplet", { destination: out.stream, level: "debug" });
    childLogger(log, { propletId: "p1", runId: "r1" }).debug({ topic: "t/x" }, "started");
    const [line] = out.lines();
    expect(line).toMatchObject({ name: "proplet", propletId: "p1", runId: "r1", topic: "t/x", msg: "started", level: 20 });
  });

  it("redacts credentials wherever they appear", () => {
    const out = capture();
    const log = createLogger("kbs", { destination: out.stream });
    log.info({ token: "eyJ.secret", req: { headers: { authorization: "Bearer s3cret", cookie: "sid=1" } }, body: { key: "k" } }, "x");
    const text = JSON.stringify(out.lines()[0]);
    expect(text).not.toContain("eyJ.secret");
    expect(text).not.toContain("s3cret");
    expect(text).not.toContain("sid=1");
    expect(text).not.toContain('"k"');
    expect(text).toContain("[redacted]");
  });

  it("leaves out pid and hostname when bare, and honours the level", () => {
    const out = capture();
    const log = createLogger(undefined, { destination: out.stream, bare: true, level: "warn" });
    log.info("dropped");
    log.warn("kept");
    const lines = out.lines();
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toHaveProperty("pid");
    expect(lines[0]).not.toHaveProperty("hostname");
    expect(lines[0]!.msg).toBe("kept");
  });
});
