import { parse } from "../args.js";
import { UsageError } from "../errors.js";
import { ManagerClient, resolveConnection } from "../manager-client.js";
import { describeRun, describeScheduling, taskLine, type Output } from "../output.js";
import { TASK_FLAGS, prepareTask } from "../task-spec.js";

/** The options of every command that talks to the manager. */
export const CLIENT_FLAGS = { manager: { type: "string" }, token: { type: "string" }, "state-dir": { type: "string" }, json: { type: "boolean" } } as const;

/** A client for the manager the flags, the environment or `propeller up`'s state directory name. */
export function clientFrom(values: { manager?: string; token?: string; "state-dir"?: string }): ManagerClient {
  return new ManagerClient(resolveConnection(values));
}

/** `propeller task create|start|get|list|stop|logs|runs` */
export async function taskCommand(argv: string[], io: Output): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case "create": {
      const { values, positionals } = parse("task create", rest, { ...CLIENT_FLAGS, ...TASK_FLAGS, start: { type: "boolean" } });
      if (positionals.length > 1) throw new UsageError("task create takes one Wasm file; pass guest arguments with --arg");
      const { body, upload } = await prepareTask(positionals[0], values);
      if (values.start) body.start = true;
      const client = clientFrom(values);
      if (upload) await client.uploadArtifact(upload.digest, upload.bytes);
      const task = await client.createTask(body);
      io.out(values.json ? JSON.stringify(task, null, 2) : `created ${taskLine(task)}`);
      return 0;
    }
    case "logs": {
      const { values, positionals } = parse("task logs", rest, { ...CLIENT_FLAGS, follow: { type: "boolean", short: "f" }, run: { type: "string" } });
      const id = positionals[0];
      if (!id || positionals.length > 1) throw new UsageError("task logs takes exactly one task id");
      const client = clientFrom(values);
      if (values.follow) return followLogs(client, id, values.run, Boolean(values.json), io);
      const task = await client.getTask(id);
      const run = values.run ? await client.run(id, values.run) : task.latestRun;
      if (!run?.result) {
        io.err(`task ${id}: ${describeRun(run)}; no output yet (follow it live with \`propeller task logs ${id} --follow\`)`);
        return 1;
      }
      if (values.json) io.out(JSON.stringify(run.result, null, 2));
      else {
        io.out(run.result.stdout);
        if (run.result.stderr) io.err(run.result.stderr);
      }
      return 0;
    }
    case "start":
    case "stop":
    case "get":
    case "runs": {
      const { values, positionals } = parse(`task ${sub}`, rest, CLIENT_FLAGS);
      const id = positionals[0];
      if (!id || positionals.length > 1) throw new UsageError(`task ${sub} takes exactly one task id`);
      const client = clientFrom(values);
      if (sub === "start" || sub === "stop") {
        const task = sub === "start" ? await client.startTask(id) : await client.stopTask(id);
        io.out(values.json ? JSON.stringify(task, null, 2) : `${sub === "start" ? "started" : "stopping"} ${taskLine(task)}`);
      } else if (sub === "get") {
        const task = await client.getTask(id);
        io.out(JSON.stringify(task, null, 2));
        // A one-line summary beside the JSON (stderr, so stdout stays parseable).
        if (!values.json) io.err([taskLine(task), describeScheduling(task), describeRun(task.latestRun)].filter(Boolean).join("; "));
      } else {
        const { items } = await client.runs(id);
        io.out(values.json ? JSON.stringify(items, null, 2) : items.map(describeRun).join("\n") || "no runs");
      }
      return 0;
    }
    case "list": {
      const { values } = parse("task list", rest, { ...CLIENT_FLAGS, state: { type: "string" }, limit: { type: "string" }, cursor: { type: "string" } }, false);
      const page = await clientFrom(values).listTasks({
        ...(values.state ? { state: values.state } : {}),
        ...(values.limit ? { limit: Number(values.limit) } : {}),
        ...(values.cursor ? { cursor: values.cursor } : {}),
      });
      if (values.json) io.out(JSON.stringify(page, null, 2));
      else {
        io.out(page.items.map(taskLine).join("\n") || "no tasks");
        if (page.nextCursor) io.out(`more: --cursor ${page.nextCursor}`);
      }
      return 0;
    }
    default:
      throw new UsageError(`unknown task command "${sub ?? ""}": use create, start, get, list, stop, logs or runs`);
  }
}

/**
 * `task logs --follow`: the run's output as it is written (stdout to stdout, stderr to stderr;
 * with --json one chunk per line on stdout), then exits 0 when the run completed, 1 otherwise.
 * Without --run it follows the task's latest run, waiting for one to exist.
 */
async function followLogs(client: ManagerClient, taskId: string, runId: string | undefined, json: boolean, io: Output): Promise<number> {
  let run = runId;
  for (let waited = 0; run === undefined; waited += 500) {
    const task = await client.getTask(taskId);
    run = task.latestRun?.id;
    if (run) break;
    if (waited >= 60_000) {
      io.err(`task ${taskId} has no run after 60 s; start it with \`propeller task start ${taskId}\``);
      return 1;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  const state = await client.followLogs(taskId, run, (c) => {
    if (json) io.out(JSON.stringify(c));
    else if (io.raw) io.raw(c.stream, Buffer.from(c.data, "base64"));
    else (c.stream === "stdout" ? io.out : io.err)(Buffer.from(c.data, "base64").toString("utf8"));
  });
  if (json) io.out(JSON.stringify({ end: true, runId: run, state }));
  else io.err(`run ${run} ${state}`);
  return state === "completed" ? 0 : 1;
}
