/**
 * Worker-thread entry that turns a component into JS + core modules with jco (`transpile`, async
 * instantiation, every core module as its own file) and reads its WIT (`componentWit`). It runs
 * in a worker because jco's tools are themselves Wasm that run synchronously for 0.2–4 s: the
 * proplet's MQTT loop keeps beating meanwhile.
 */
import { parentPort, workerData } from "node:worker_threads";
import { componentWit, transpile } from "@bytecodealliance/jco";
import type { TranspileReply, TranspileRequest } from "./protocol.js";
import { messageOf } from "../../../lib/errors.js";

async function main(input: TranspileRequest): Promise<TranspileReply> {
  const bytes = input.component;
  let wit: string;
  try {
    wit = await componentWit(bytes);
  } catch (err) {
    return { ok: false, message: `not a WebAssembly component jco can read: ${messageOf(err)}` };
  }
  try {
    const out = await transpile(bytes, {
      name: "component",
      instantiation: "async",
      noTypescript: true,
      // every core module as a file: the runtime caps and compiles them itself
      base64Cutoff: 0,
      quiet: true,
    });
    const cores: Record<string, Uint8Array> = {};
    let js = "";
    for (const [name, data] of Object.entries(out.files)) {
      if (name === "component.js") js = Buffer.from(data).toString("utf8");
      else if (name.endsWith(".wasm")) cores[name] = data;
    }
    if (!js) return { ok: false, message: "jco produced no JS for the component" };
    return { ok: true, files: { js, cores, wit } };
  } catch (err) {
    return { ok: false, message: `jco could not transpile the component: ${messageOf(err)}` };
  }
}

void main(workerData as TranspileRequest)
  .catch((err: unknown): TranspileReply => ({ ok: false, message: messageOf(err) }))
  .then((reply) => parentPort!.postMessage(reply));
