/** Helpers shared by the proplet tests: example modules, WAT compiled with wabt, request defaults. */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import wabt from "wabt";
import { EXAMPLES_DIR } from "../../testing/paths.js";
import type { RunLimits } from "../../protocol/index.js";
import type { RunRequest } from "../execute/runtime.js";

export async function example(relative: string): Promise<Uint8Array> {
  return new Uint8Array(await readFile(join(EXAMPLES_DIR, relative)));
}

let wabtModule: Awaited<ReturnType<typeof wabt>> | undefined;
/** Compiles examples/wat/<name>.wat with the wabt package. */
export async function wat(name: string): Promise<Uint8Array> {
  wabtModule ??= await wabt();
  const source = await readFile(join(EXAMPLES_DIR, "wat", `${name}.wat`), "utf8");
  const parsed = wabtModule.parseWat(`${name}.wat`, source);
  try {
    return new Uint8Array(parsed.toBinary({}).buffer);
  } finally {
    parsed.destroy();
  }
}

export const LIMITS_FOR_TESTS: RunLimits = { timeoutMs: 20_000, memoryBytes: 64 * 1024 * 1024, outputBytes: 1024 * 1024 };

export const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8");

/** A run of `module` (a WASI command by default) with the test limits; `over` replaces any field. */
export function runRequest(module: Uint8Array, over: Partial<RunRequest> = {}): RunRequest {
  return {
    runId: "r1",
    module,
    entrypoint: { kind: "wasi" },
    args: [],
    env: {},
    stdin: new Uint8Array(),
    limits: LIMITS_FOR_TESTS,
    signal: new AbortController().signal,
    ...over,
  };
}
