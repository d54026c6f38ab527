#!/usr/bin/env node
// Entry point of the `propeller` command. Runs the compiled CLI (npm ci builds it via `prepare`).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const compiled = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(fileURLToPath(compiled))) {
  console.error("propeller: the CLI is not built. Run `npm run build` in the project folder first.");
  process.exit(1);
}
const { main } = await import(compiled.href);
process.exitCode = await main(process.argv.slice(2));
