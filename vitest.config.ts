import { defineConfig } from "vitest/config";

/**
 * Two projects. `unit`: no services, no child processes, no database (not even the embedded one):
 * `npm run test:unit` is the fast loop. `integration`: everything that starts a real broker,
 * database, registry, TPM, KBS or process — files named `*.integration.test.ts`, and the
 * end-to-end suites under the top-level `test/`. `npm test` runs both.
 * testing/test/unit-project.test.ts keeps the unit project free of services.
 */
const INTEGRATION = ["**/*.integration.test.ts", "test/**/*.test.ts"];
const NEVER = ["node_modules/**", "dist/**", "firmware/**"];

export default defineConfig({
  test: {
    // Integration tests start real brokers, databases and worker threads: give them room.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Two cores: more parallel files than this only adds contention.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        // One module cache per worker process across files (no per-file re-import): the unit files
        // share no mutable globals, and this halves the fast loop (≈ 95 s → 55 s on two cores).
        test: { name: "unit", include: ["**/test/**/*.test.ts"], exclude: [...NEVER, ...INTEGRATION], isolate: false },
      },
      {
        extends: true,
        test: { name: "integration", include: INTEGRATION, exclude: NEVER },
      },
    ],
  },
});
