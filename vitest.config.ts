import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["**/test/**/*.test.ts"],
    exclude: ["node_modules/**", "dist/**", "firmware/**"],
    // Integration tests start real brokers, databases and worker threads: give them room.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Two cores: more parallel files than this only adds contention.
    maxWorkers: 2,
  },
});
