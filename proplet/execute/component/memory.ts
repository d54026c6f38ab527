/**
 * The memory cap of a component run. A component's linear memories live in its core modules
 * (jco hands them to us as separate files), so the cap is written into those modules exactly as
 * for a core module (wasm-binary.ts): every memory a module *defines* gets a declared maximum;
 * imported memories are some other core module's (capped there).
 *
 * One budget for the whole component: the initial sizes of all defined memories must fit under
 * the cap (else `memory_limit` before anything runs), and the headroom above them is shared
 * equally among the memories that may still grow, so the sum of all maxima never exceeds the cap.
 * (Most components define one memory; the adapter's preview1 shim imports it.)
 */
import { MemoryLimitError } from "../../errors.js";
import { WASM_PAGE_BYTES, capModuleMemory, inspectModule } from "../wasm-binary.js";

export function capComponentMemories(cores: Record<string, Uint8Array>, memoryBytes: number): Record<string, Uint8Array> {
  const capPages = Math.floor(memoryBytes / WASM_PAGE_BYTES);
  const infos = Object.entries(cores).map(([name, bytes]) => ({ name, bytes, info: inspectModule(bytes) }));
  const defined = (i: (typeof infos)[number]) => i.info.memories.filter((m) => !m.imported);
  let initial = 0;
  let growable = 0;
  for (const i of infos) {
    for (const m of defined(i)) {
      initial += m.min;
      if (m.max === undefined || m.max > m.min) growable++;
    }
  }
  if (initial > capPages) {
    throw new MemoryLimitError(`the component's initial memory (${initial * WASM_PAGE_BYTES} bytes) exceeds the run's memory limit of ${capPages * WASM_PAGE_BYTES} bytes`);
  }
  const share = growable === 0 ? 0 : Math.floor((capPages - initial) / growable);
  const out: Record<string, Uint8Array> = {};
  for (const i of infos) {
    const mems = defined(i);
    if (mems.length === 0) {
      out[i.name] = i.bytes;
      continue;
    }
    // capModuleMemory applies one cap to every memory of a module; with one memory per module
    // (the usual case) min + share is exactly that memory's budget.
    const cap = Math.min(...mems.map((m) => m.min + share));
    out[i.name] = capModuleMemory(i.bytes, { ...i.info, memories: mems }, cap);
  }
  return out;
}
