import { describe, it } from "vitest";

/**
 * `describe` for suites that need a real component on this machine (vectors, swtpm, prometheus):
 * skipped with a message saying what is missing, except under CI=true, where a missing component
 * is a failure (.ci/run installs it).
 */
export function describeWhen(name: string, available: boolean, missing: { test: string; why: string; skip: string }, fn: () => void): void {
  if (available) describe(name, fn);
  else if (process.env.CI === "true") {
    describe(name, () => {
      it(missing.test, () => {
        throw new Error(missing.why);
      });
    });
  } else {
    console.warn(`skipping "${name}": ${missing.skip}`);
    describe.skip(name, fn);
  }
}
