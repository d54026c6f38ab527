import { describe, expect, it } from "vitest";
import pino from "pino";
import { ManagerEvents, type ManagerEvent } from "../events.js";
import { SCHEDULER_WAKES_ON } from "../scheduler/scheduler.js";
import { ADVANCER_WAKES_ON } from "../workflows/advancer.js";

describe("domain events", () => {
  it("delivers an event to the listeners of its type only, until they unsubscribe", () => {
    const events = new ManagerEvents();
    const seen: ManagerEvent[] = [];
    const off = events.on(["run.finished", "proplet.joined"], (e) => seen.push(e));
    events.emit({ type: "run.finished", runId: "r", taskId: "t" });
    events.emit({ type: "task.runnable" });
    events.emit({ type: "proplet.joined", propletId: "p" });
    off();
    events.emit({ type: "run.finished", runId: "r2", taskId: "t" });
    expect(seen).toEqual([
      { type: "run.finished", runId: "r", taskId: "t" },
      { type: "proplet.joined", propletId: "p" },
    ]);
  });

  it("logs a listener that throws and still calls the others", () => {
    const lines: string[] = [];
    const log = pino({ level: "error" }, { write: (line: string) => lines.push(line) });
    const events = new ManagerEvents(log);
    let called = 0;
    events.on(["task.stopped"], () => {
      throw new Error("boom");
    });
    events.on(["task.stopped"], () => called++);
    expect(() => events.emit({ type: "task.stopped", taskId: "t" })).not.toThrow();
    expect(called).toBe(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ event: "task.stopped", err: "boom", msg: "a domain event listener failed" });
  });

  it("wakes the scheduler on every event that can free a slot or queue a run; the advancer only when a task ends", () => {
    expect([...SCHEDULER_WAKES_ON].sort()).toEqual(["proplet.heartbeat", "proplet.joined", "run.finished", "runs.lost", "task.runnable", "task.stopped"]);
    expect([...ADVANCER_WAKES_ON].sort()).toEqual(["run.finished", "runs.lost", "task.stopped"]);
  });
});
