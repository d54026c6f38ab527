/** `npm run bench -- <name> [options]`: runs one benchmark (or all) and prints its figures. */

/** Loaded on demand, so one benchmark does not need every box built. */
const BENCHES: Record<string, () => Promise<(args: string[]) => Promise<void>>> = {
  core: async () => (await import("./core.js")).benchCore,
  age: async () => (await import("./age.js")).benchAge,
  attestation: async () => (await import("./attestation.js")).benchAttestation,
  confidential: async () => (await import("./confidential.js")).benchConfidential,
  components: async () => (await import("./components.js")).benchComponents,
  delivery: async () => (await import("./delivery.js")).benchDelivery,
  scheduling: async () => (await import("./scheduling.js")).benchScheduling,
  tlog: async () => (await import("./tlog.js")).benchTlog,
  "fl-secagg": async () => (await import("./fl-secagg.js")).benchFlSecAgg,
  fl: async () => (await import("./fl.js")).benchFl,
  tracing: async () => (await import("./tracing.js")).benchTracing,
  "tracing-costs": async () => (await import("./tracing-costs.js")).benchTracingCosts,
};

const [name = "all", ...args] = process.argv.slice(2);
const selected = name === "all" ? Object.keys(BENCHES) : [name];
for (const key of selected) {
  const load = BENCHES[key];
  if (!load) {
    console.error(`unknown benchmark "${key}"; choose one of: ${Object.keys(BENCHES).join(", ")}, all`);
    process.exit(2);
  }
  await (await load())(args);
}
process.exit(0);
