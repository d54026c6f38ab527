/** `npm run bench -- <name> [options]`: runs one benchmark (or all) and prints its figures. */
import { benchCore } from "./core.js";

const BENCHES: Record<string, (args: string[]) => Promise<void>> = {
  core: benchCore,
};

const [name = "all", ...args] = process.argv.slice(2);
const selected = name === "all" ? Object.keys(BENCHES) : [name];
for (const key of selected) {
  const bench = BENCHES[key];
  if (!bench) {
    console.error(`unknown benchmark "${key}"; choose one of: ${Object.keys(BENCHES).join(", ")}, all`);
    process.exit(2);
  }
  await bench(args);
}
process.exit(0);
