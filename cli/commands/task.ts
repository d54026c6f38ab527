import { parse } from "../args.js";
import { UsageError } from "../errors.js";
import { ManagerClient, resolveManagerToken } from "../manager-client.js";
import { describeRun, describeScheduling, taskLine, type Output } from "../output.js";
import { TASK_FLAGS, prepareTask } from "../task-spec.js";
import { clientEnv } from "../client-env.js";

const CLIENT_FLAGS = { manager: { type: "string" }, token: { type: "string" }, json: { type: "boolean" } } as const;

export function clientFrom(values: { manager?: string; token?: string }): ManagerClient {
  const token = resolveManagerToken(values.token);
  return new ManagerClient({
    baseUrl: values.manager ?? clientEnv().managerUrl,
    ...(token ? { token } : {}),
  });
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
    case "start":
    case "stop":
    case "get":
    case "logs":
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
      } else if (sub === "runs") {
        const { items } = await client.runs(id);
        io.out(values.json ? JSON.stringify(items, null, 2) : items.map(describeRun).join("\n") || "no runs");
      } else {
        const task = await client.getTask(id);
        const run = task.latestRun;
        if (!run?.result) {
          io.err(`task ${id}: ${describeRun(run)}; no output yet`);
          return 1;
        }
        if (values.json) io.out(JSON.stringify(run.result, null, 2));
        else {
          io.out(run.result.stdout);
          if (run.result.stderr) io.err(run.result.stderr);
        }
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
