import { parse, parsePositiveInt } from "../args.js";
import { RemoteError, UsageError } from "../errors.js";
import { loadWorkflowSpec } from "../flow-spec.js";
import type { ManagerClient } from "../manager-client.js";
import type { FlowKind, Workflow, WorkflowNode } from "../../protocol/api/index.js";
import type { Output } from "../output.js";
import { CLIENT_FLAGS, clientFrom } from "./task.js";

export { CLIENT_FLAGS };
const FLOW_TERMINAL = new Set(["completed", "failed", "stopped"]);
const DEFAULT_WAIT_MS = 120_000;

export function flowLine(flow: Workflow): string {
  const reason = flow.reason ? ` (${flow.reason})` : "";
  const mode = flow.mode ? ` ${flow.mode}` : "";
  return `${flow.id}  ${flow.state.padEnd(9)}  ${flow.name}${mode}, ${flow.nodes.length} node${flow.nodes.length === 1 ? "" : "s"}${reason}`;
}

export function nodeLine(node: WorkflowNode): string {
  const deps = node.dependsOn.length ? `  after ${node.dependsOn.join(",")}` : "";
  const reason = node.reason ? `  (${node.reason})` : "";
  return `  ${node.name.padEnd(16)} ${node.state.padEnd(9)} ${node.taskId ?? "-"}${deps}${reason}`;
}

function show(io: Output, json: boolean | undefined, flow: Workflow, verb?: string): void {
  if (json) io.out(JSON.stringify(flow, null, 2));
  else io.out([`${verb ? `${verb} ` : ""}${flowLine(flow)}`, ...flow.nodes.map(nodeLine)].join("\n"));
}

/**
 * A call naming a workflow or job by id: an id the manager does not know (404) or refuses as
 * malformed (400) is the user's input, so it is a usage error (exit 2) that says where ids come from.
 */
async function byId<T>(kind: FlowKind, id: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof RemoteError && (err.status === 404 || err.status === 400)) {
      throw new UsageError(`no ${kind} "${id}" (${err.message}); \`propeller ${kind} list\` shows the ids`);
    }
    throw err;
  }
}

/**
 * Polls until the workflow or job ends, printing each node state change. Bounded by `timeoutMs`;
 * a `created` one never ends by itself, so waiting on it is refused at once.
 */
export async function waitForFlow(client: ManagerClient, kind: FlowKind, id: string, timeoutMs: number, onChange?: (node: WorkflowNode) => void): Promise<Workflow> {
  const deadline = Date.now() + timeoutMs;
  const seen = new Map<string, string>();
  let delay = 50;
  for (;;) {
    const flow = await byId(kind, id, () => client.getFlow(kind, id));
    for (const node of flow.nodes) {
      if (seen.get(node.name) !== node.state) {
        seen.set(node.name, node.state);
        onChange?.(node);
      }
    }
    if (FLOW_TERMINAL.has(flow.state)) return flow;
    if (flow.state === "created") throw new RemoteError("not_started", `${kind} ${id} is not started; run \`propeller ${kind} start ${id}\` first`, undefined);
    if (Date.now() > deadline) throw new RemoteError("wait_timeout", `${kind} ${id} did not finish within ${timeoutMs} ms (state ${flow.state}); wait again or raise --timeout`, undefined);
    await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(0, deadline - Date.now()) + 1)));
    delay = Math.min(delay * 2, 500);
  }
}

/** The subcommands workflows and jobs share: list, get, start, stop, wait. Undefined for others. */
export async function flowSubcommand(kind: FlowKind, sub: string | undefined, rest: string[], io: Output): Promise<number | undefined> {
  switch (sub) {
    case "list": {
      const { values } = parse(`${kind} list`, rest, { ...CLIENT_FLAGS, state: { type: "string" }, limit: { type: "string" }, cursor: { type: "string" } }, false);
      const page = await clientFrom(values).listFlows(kind, {
        ...(values.state ? { state: values.state } : {}),
        ...(values.limit ? { limit: parsePositiveInt("--limit", values.limit, 50) } : {}),
        ...(values.cursor ? { cursor: values.cursor } : {}),
      });
      if (values.json) io.out(JSON.stringify(page, null, 2));
      else {
        io.out(page.items.map(flowLine).join("\n") || `no ${kind}s`);
        if (page.nextCursor) io.out(`more: --cursor ${page.nextCursor}`);
      }
      return 0;
    }
    case "get":
    case "start":
    case "stop": {
      const { values, positionals } = parse(`${kind} ${sub}`, rest, CLIENT_FLAGS);
      const id = onlyId(kind, sub, positionals);
      const client = clientFrom(values);
      const flow = await byId(kind, id, () => (sub === "get" ? client.getFlow(kind, id) : sub === "start" ? client.startFlow(kind, id) : client.stopFlow(kind, id)));
      show(io, values.json, flow, sub === "start" ? "started" : sub === "stop" ? "stopping" : undefined);
      return 0;
    }
    case "wait": {
      const { values, positionals } = parse(`${kind} wait`, rest, { ...CLIENT_FLAGS, timeout: { type: "string" } });
      const id = onlyId(kind, sub, positionals);
      const timeoutMs = parsePositiveInt("--timeout", values.timeout, DEFAULT_WAIT_MS);
      const flow = await waitForFlow(clientFrom(values), kind, id, timeoutMs, values.json ? undefined : (node) => io.err(`${node.name}: ${node.state}${node.reason ? ` (${node.reason})` : ""}`));
      show(io, values.json, flow);
      return flow.state === "completed" ? 0 : 1;
    }
    default:
      return undefined;
  }
}

function onlyId(kind: FlowKind, sub: string, positionals: string[]): string {
  const id = positionals[0];
  if (!id || positionals.length > 1) throw new UsageError(`${kind} ${sub} takes exactly one ${kind} id`);
  return id;
}

/** `propeller workflow create|list|get|start|stop|wait` */
export async function workflowCommand(argv: string[], io: Output): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "create") {
    const { values, positionals } = parse("workflow create", rest, { ...CLIENT_FLAGS, start: { type: "boolean" } });
    if (positionals.length !== 1) throw new UsageError("workflow create takes one spec file (or - for stdin): {\"name\": …, \"nodes\": [{\"name\", \"task\": {\"wasm\": \"a.wasm\", …}, \"dependsOn\"}]}");
    const body = await loadWorkflowSpec(positionals[0]!);
    if (values.start) body.start = true;
    const flow = await clientFrom(values).createFlow("workflow", body);
    show(io, values.json, flow, "created");
    return 0;
  }
  const code = await flowSubcommand("workflow", sub, rest, io);
  if (code === undefined) throw new UsageError(`unknown workflow command "${sub ?? ""}": use create, list, get, start, stop or wait`);
  return code;
}
