#!/usr/bin/env node
// Rebuilds the example components with jco's programmatic API (no other toolchain):
//   node examples/components/build.mjs [outDir]
// - hello-p2/hello.component.wasm: examples/hello/hello.wasm (a preview1 command, from C) wrapped
//   as a preview2 command component with the preview1 adapter jco ships (`jco new --wasi-command`);
// - calc/calc.wasm: a core module written in WAT (calc.wat) + its WIT (calc.wit), embedded and
//   made a component (`jco embed` + `jco new`): custom exports for the WAVE entrypoint;
// - hello-http/hello-http.wasm: a wasi:http proxy in WAT against jco's bundled WASI 0.2.12 WIT;
// - notes/notes.wasm (preview1 core module, WAT) and notes/notes.component.wasm (the same wrapped
//   as a preview2 command): writes and reads a file in the first granted directory.
// - fl/logreg.component.wasm: examples/fl/logreg.wasm (the federated learning client) wrapped the same way.
// The built files are committed (a few KiB each); the test that checks them rebuilds into a temp dir.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { componentEmbed, componentNew, parse, preview1AdapterCommandPath } from "@bytecodealliance/jco";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] ?? here;
const builtinWit = join(dirname(fileURLToPath(preview1AdapterCommandPath())), "wit", "builtin", "0.2.12");

/** `jco new --wasi-command`: a preview1 command wrapped with jco's preview1 → preview2 adapter. */
function wrapCommand(core) {
  const adapter = readFileSync(preview1AdapterCommandPath());
  return componentNew(core, [["wasi_snapshot_preview1", adapter]]);
}

async function helloP2() {
  return wrapCommand(readFileSync(join(here, "..", "hello", "hello.wasm")));
}

const notesCore = () => parse(readFileSync(join(here, "notes", "notes.wat"), "utf8"));

async function calc() {
  const core = await parse(readFileSync(join(here, "calc", "calc.wat"), "utf8"));
  const embedded = await componentEmbed({ binary: core, witSource: readFileSync(join(here, "calc", "calc.wit"), "utf8"), world: "calc" });
  return componentNew(embedded);
}

async function helloHttp() {
  // wit-parser wants a directory: world.wit plus deps/ (jco's bundled WASI packages).
  const wit = mkdtempSync(join(tmpdir(), "propeller-wit-"));
  try {
    cpSync(join(here, "hello-http", "world.wit"), join(wit, "world.wit"));
    for (const pkg of ["wasi-http", "wasi-io", "wasi-clocks", "wasi-cli", "wasi-random", "wasi-filesystem", "wasi-sockets"]) {
      cpSync(join(builtinWit, pkg), join(wit, "deps", pkg), { recursive: true });
    }
    const core = await parse(readFileSync(join(here, "hello-http", "hello-http.wat"), "utf8"));
    const embedded = await componentEmbed({ binary: core, witPath: wit, world: "hello-http" });
    return componentNew(embedded);
  } finally {
    rmSync(wit, { recursive: true, force: true });
  }
}

for (const [path, build] of [
  ["hello-p2/hello.component.wasm", helloP2],
  ["calc/calc.wasm", calc],
  ["hello-http/hello-http.wasm", helloHttp],
  ["notes/notes.wasm", notesCore],
  ["notes/notes.component.wasm", async () => wrapCommand(await notesCore())],
  // The federated learning client as a component: its data directory can then be granted read-only.
  ["fl/logreg.component.wasm", async () => wrapCommand(readFileSync(join(here, "..", "fl", "logreg.wasm")))],
]) {
  const bytes = await build();
  mkdirSync(dirname(join(out, path)), { recursive: true });
  writeFileSync(join(out, path), bytes);
  console.log(`built ${join(out, path)} (${bytes.byteLength} bytes)`);
}
