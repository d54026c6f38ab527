/**
 * Where a runtime's worker thread starts. Running from TypeScript sources (tests, tsx) the entry
 * is a .ts file and Node 20 ignores `--import tsx` in a worker's execArgv for the entry itself, so
 * a tiny bootstrap registers tsx's loader in the worker first and then imports the entry; from
 * dist/ the compiled .js entry runs directly. (The same scheme as wasi-p1.ts.)
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

const FROM_SOURCE = import.meta.url.endsWith(".ts");

export interface WorkerEntry {
  spec: string | URL;
  eval: boolean;
}

/** `base` is the entry's file name without extension, in this folder. */
export function workerEntry(base: string): WorkerEntry {
  if (!FROM_SOURCE) return { spec: new URL(`./${base}.js`, import.meta.url), eval: false };
  const tsxApi = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve("tsx/package.json")), "dist/esm/api/index.mjs")).href;
  const entry = new URL(`./${base}.ts`, import.meta.url).href;
  return {
    spec: `import(${JSON.stringify(tsxApi)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`,
    eval: true,
  };
}
