import { parse, parsePositiveInt } from "../args.js";
import type { ManagerClient, TaskView } from "../manager-client.js";
import { describeRun, type Output } from "../output.js";
import { TASK_FLAGS, buildTaskBody } from "../task-spec.js";
import { clientFrom } from "./task.js";

/** Creates and starts a task, waits for its result and prints it; exit 0 only when it completed. */
export async function submitAndReport(client: ManagerClient, body: Record<string, unknown>, waitMs: number, io: Output, json = false): Promise<{ task: TaskView; code: number }> {
  const created = await client.createTask({ ...body, start: true });
  const task = await client.waitForFinish(created.id, waitMs, (t) => {
    if (!json) io.err(`task ${t.id}: ${t.state}${t.pendingReason ? ` (${t.pendingReason})` : ""}`);
  });
  const run = task.latestRun;
  if (json) io.out(JSON.stringify(task, null, 2));
  else {
    if (run?.result?.stdout) io.out(run.result.stdout);
    if (run?.result?.stderr) io.err(run.result.stderr);
    io.err(describeRun(run));
  }
  const exitCode = run?.result?.exitCode;
  const code = task.state === "completed" ? (typeof exitCode === "number" && exitCode >= 0 && exitCode < 256 ? exitCode : 0) : 1;
  return { task, code };
}

/** `propeller run <file.wasm> [guest args...]` */
export async function runCommand(argv: string[], io: Output): Promise<number> {
  const { values, positionals } = parse("run", argv, {
    ...TASK_FLAGS,
    manager: { type: "string" },
    token: { type: "string" },
    json: { type: "boolean" },
    wait: { type: "string" },
  });
  const [wasm, ...guestArgs] = positionals;
  const body = await buildTaskBody(values.url ? undefined : wasm, values, values.url ? positionals : guestArgs);
  const waitMs = parsePositiveInt("--wait", values.wait, 120_000);
  const { code } = await submitAndReport(clientFrom(values), body, waitMs, io, values.json ?? false);
  return code;
}
