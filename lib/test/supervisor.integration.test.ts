import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { Supervisor, stopChildProcess } from "../supervisor.js";

describe("Supervisor", () => {
  it("stops in reverse order, once, going on past a failing step", async () => {
    const order: string[] = [];
    const errors: string[] = [];
    const s = new Supervisor((message) => errors.push(message));
    s.add(async () => order.push("db"));
    s.add(async () => {
      throw new Error("broker stuck");
    });
    s.add(async () => order.push("http"));
    await Promise.all([s.close(), s.close()]);
    await s.close();
    expect(order).toEqual(["http", "db"]);
    expect(errors).toEqual(["broker stuck"]);
  });

  it("start stops what already started when start-up fails, and rethrows", async () => {
    const order: string[] = [];
    const s = new Supervisor();
    await expect(
      s.start(async (sup) => {
        sup.add(async () => order.push("first"));
        throw new Error("second part failed");
      }),
    ).rejects.toThrow("second part failed");
    expect(order).toEqual(["first"]);
  });
});

describe("stopChildProcess", () => {
  it("SIGTERMs a child and resolves when it exited; SIGKILLs one that ignores SIGTERM", async () => {
    const polite = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
    await stopChildProcess(polite, 5000);
    expect(polite.signalCode).toBe("SIGTERM");

    const stubborn = spawn(process.execPath, ["-e", "process.on('SIGTERM', () => {}); process.stdout.write('ready'); setInterval(() => {}, 1000)"], { stdio: ["ignore", "pipe", "ignore"] });
    await new Promise((r) => stubborn.stdout!.once("data", r));
    await stopChildProcess(stubborn, 100);
    expect(stubborn.signalCode).toBe("SIGKILL");
    await stopChildProcess(stubborn); // already gone: returns at once
    await stopChildProcess(undefined);
  });
});
