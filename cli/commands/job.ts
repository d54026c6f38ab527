import { parse } from "../args.js";
import { UsageError } from "../errors.js";
import { inlineArtifact, nodeNameFromFile } from "../flow-spec.js";
import type { Output } from "../output.js";
import { clientFrom } from "./task.js";
import { CLIENT_FLAGS, flowLine, flowSubcommand, nodeLine } from "./workflow.js";

/** `propeller job create|list|get|start|stop|wait` */
export async function jobCommand(argv: string[], io: Output): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "create") {
    const { values, positionals } = parse("job create", rest, { ...CLIENT_FLAGS, name: { type: "string" }, mode: { type: "string" }, start: { type: "boolean" } });
    if (!values.name) throw new UsageError("job create needs --name N");
    if (values.mode !== "parallel" && values.mode !== "sequential") throw new UsageError(`job create needs --mode parallel or --mode sequential${values.mode ? `, not "${values.mode}"` : ""}`);
    if (positionals.length === 0) throw new UsageError("job create takes one or more Wasm files, one task each (in order for --mode sequential)");
    // Each file is a task named after it; a file given twice gets its position as a suffix.
    const used = new Set<string>();
    const tasks = [];
    for (const [i, file] of positionals.entries()) {
      let name = nodeNameFromFile(file);
      if (used.has(name)) name = `${name}-${i + 1}`;
      used.add(name);
      tasks.push({ name, task: { artifact: await inlineArtifact(file) } });
    }
    const body = { name: values.name, mode: values.mode, tasks, ...(values.start ? { start: true } : {}) };
    const job = await clientFrom(values).createFlow("job", body);
    io.out(values.json ? JSON.stringify(job, null, 2) : [`created ${flowLine(job)}`, ...job.nodes.map(nodeLine)].join("\n"));
    return 0;
  }
  const code = await flowSubcommand("job", sub, rest, io);
  if (code === undefined) throw new UsageError(`unknown job command "${sub ?? ""}": use create, list, get, start, stop or wait`);
  return code;
}
