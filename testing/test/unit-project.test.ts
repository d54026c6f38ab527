import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../paths.js";

/**
 * `npm run test:unit` must run on a machine with no services. A test file that starts a database,
 * a broker, a registry, a TPM, a KBS or any process belongs to the integration project: name it
 * `*.integration.test.ts` (or put it under the top-level test/).
 */
const SERVICE_MARKERS: readonly RegExp[] = [
  /testing\/(postgres|mosquitto|registry|swtpm|process|compose|tls)\.js/,
  /@electric-sql\/pglite|\bPGlite\b/,
  /from "aedes"|startBroker\(/,
  /node:child_process/,
  /startStack\(|startKbs\(/,
  /\.listen\(|createServer\(/,
];

const NOT_SOURCES = new Set(["node_modules", "dist", "firmware", "coverage", ".git", ".propeller"]);

function testFiles(dir = REPO_ROOT): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return NOT_SOURCES.has(entry.name) ? [] : testFiles(path);
    return entry.name.endsWith(".test.ts") ? [relative(REPO_ROOT, path)] : [];
  });
}

function isIntegration(file: string): boolean {
  return file.endsWith(".integration.test.ts") || file.startsWith("test/");
}

describe("the unit project", () => {
  const files = testFiles();

  it("finds the test files", () => {
    expect(files.length).toBeGreaterThan(10);
    expect(files.some((f) => !isIntegration(f))).toBe(true);
    expect(files.some(isIntegration)).toBe(true);
  });

  it("holds no test that needs a service or a process", () => {
    const offenders = files
      // This file names the markers as patterns, so it would match itself.
      .filter((f) => !isIntegration(f) && f !== "testing/test/unit-project.test.ts")
      .flatMap((f) => {
        const source = readFileSync(`${REPO_ROOT}/${f}`, "utf8");
        const hit = SERVICE_MARKERS.find((m) => m.test(source));
        return hit ? [`${f} (matches ${hit.source}): rename it to *.integration.test.ts`] : [];
      });
    expect(offenders).toEqual([]);
  });
});
