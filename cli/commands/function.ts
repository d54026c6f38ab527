import { parse, parsePositiveInt } from "../args.js";
import { RemoteError, UsageError } from "../errors.js";
import { inlineArtifact } from "../flow-spec.js";
import type { FunctionView } from "../../protocol/api/index.js";
import type { Output } from "../output.js";
import { clientFrom } from "./task.js";
import { CLIENT_FLAGS } from "./workflow.js";
import { parseWasmValue } from "../task-spec.js";

function functionLine(fn: FunctionView): string {
  const placements = fn.placements.map((p) => `${p.propletId}=${p.state}${p.error ? ` (${p.error})` : ""}`).join(" ");
  return `${fn.name}  export ${fn.export}  ${fn.instances} instance${fn.instances === 1 ? "" : "s"} x ${fn.replicas}  generation ${fn.generation}  ${placements || "not placed"}`;
}

/** `--input -5` as `--input=-5`: parseArgs would take `-5` for an option, and numbers are what inputs are. */
function joinNegativeInputs(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const next = argv[i + 1];
    if (argv[i] === "--input" && next !== undefined && /^-(\d|\.\d|Infinity$)/.test(next)) {
      out.push(`--input=${next}`);
      i++;
    } else out.push(argv[i]!);
  }
  return out;
}

/** Function names the manager does not know are the user's input: exit 2 with where names come from. */
async function byName<T>(name: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof RemoteError && err.status === 404) throw new UsageError(`no function "${name}" (${err.message}); \`propeller function list\` shows them`);
    throw err;
  }
}

function onlyName(sub: string, positionals: string[]): string {
  const name = positionals[0];
  if (!name || positionals.length > 1) throw new UsageError(`function ${sub} takes exactly one function name`);
  return name;
}

/** `propeller function deploy|list|get|delete|invoke` */
export async function functionCommand(argv: string[], io: Output): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case "deploy": {
      const { values, positionals } = parse("function deploy", rest, {
        ...CLIENT_FLAGS,
        name: { type: "string" },
        export: { type: "string" },
        instances: { type: "string" },
        replicas: { type: "string" },
        memory: { type: "string" },
        tag: { type: "string", multiple: true },
      });
      if (positionals.length !== 1) throw new UsageError("function deploy takes one Wasm file");
      if (!values.name) throw new UsageError("function deploy needs --name N");
      if (!values.export) throw new UsageError("function deploy needs --export E (the export every invocation calls)");
      const body: Record<string, unknown> = { name: values.name, artifact: await inlineArtifact(positionals[0]!), export: values.export };
      if (values.instances) body.instances = parsePositiveInt("--instances", values.instances, 4);
      if (values.replicas) body.replicas = parsePositiveInt("--replicas", values.replicas, 1);
      if (values.memory) body.memoryBytes = parsePositiveInt("--memory", values.memory, 0);
      if (values.tag?.length) body.requirements = { tags: values.tag };
      const fn = await clientFrom(values).createFunction(body);
      io.out(values.json ? JSON.stringify(fn, null, 2) : `deployed ${functionLine(fn)}`);
      return 0;
    }
    case "list": {
      const { values } = parse("function list", rest, CLIENT_FLAGS, false);
      const { items } = await clientFrom(values).listFunctions();
      io.out(values.json ? JSON.stringify({ items }, null, 2) : items.map(functionLine).join("\n") || "no functions");
      return 0;
    }
    case "get":
    case "delete": {
      const { values, positionals } = parse(`function ${sub}`, rest, CLIENT_FLAGS);
      const name = onlyName(sub, positionals);
      const client = clientFrom(values);
      if (sub === "get") {
        const fn = await byName(name, () => client.getFunction(name));
        io.out(values.json ? JSON.stringify(fn, null, 2) : functionLine(fn));
      } else {
        await byName(name, () => client.deleteFunction(name));
        io.out(values.json ? JSON.stringify({ deleted: name }) : `deleted ${name}`);
      }
      return 0;
    }
    case "invoke": {
      const { values, positionals } = parse("function invoke", joinNegativeInputs(rest), { ...CLIENT_FLAGS, input: { type: "string", multiple: true }, deadline: { type: "string" } });
      const name = onlyName(sub, positionals);
      const inputs = (values.input ?? []).map(parseWasmValue);
      const deadlineMs = values.deadline ? parsePositiveInt("--deadline", values.deadline, 10_000) : undefined;
      const client = clientFrom(values);
      let reply;
      try {
        reply = await byName(name, () => client.invokeFunction(name, { inputs, ...(deadlineMs ? { deadlineMs } : {}) }));
      } catch (err) {
        if (err instanceof RemoteError && err.status === 504) {
          throw new RemoteError(
            "deadline_exceeded",
            `function ${name} did not answer within its deadline (${deadlineMs ?? 10_000} ms, deployment included); raise --deadline, or check its placements with \`propeller function get ${name}\``,
            504,
          );
        }
        throw err;
      }
      if (values.json) io.out(JSON.stringify(reply, null, 2));
      else if (reply.outcome === "completed") io.out((reply.returnValues ?? []).join(" "));
      if (reply.outcome !== "completed") {
        io.err(`function ${name} failed on ${reply.propletId}: ${reply.error ? `${reply.error.code}: ${reply.error.message}` : "no error given"}`);
        return 1;
      }
      return 0;
    }
    default:
      throw new UsageError(`unknown function command "${sub ?? ""}": use deploy, list, get, delete or invoke`);
  }
}
