// Names and comments say what code does and why, not which tracker item asked for it: an issue
// number means nothing to a reader of the tree and goes stale when the tracker moves. This reads
// every source and documentation file of the tree and names each line that cites an issue by number.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const SOURCE = /\.(ts|js|c|h|md|sh|yml|yaml|cmake)$|(^|\/)CMakeLists\.txt$/;
/** "issue 16", "Issue #12", "issues 13–14": a tracker reference, not prose about an issue. */
export const ISSUE_REFERENCE = /\bissues?\s*#?\d+/i;

/** What is built, installed or generated, not written here. */
const NOT_OURS = new Set(["node_modules", "dist", ".git", "build", "coverage", ".propeller", "test-artifacts", "tmp"]);
const SELF = "testing/test/no-issue-numbers.test.ts"; // its own examples of the pattern

function trackedFiles(dir = root, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (NOT_OURS.has(entry.name) || entry.name.startsWith("build-")) continue;
    const path = join(dir, entry.name);
    const rel = relative(root, path);
    if (entry.isDirectory()) trackedFiles(path, out);
    else if (SOURCE.test(rel) && rel !== SELF) out.push(rel);
  }
  return out;
}

describe("no issue numbers in the tree", () => {
  it("the pattern finds what it must and only that", () => {
    for (const hit of ["(issue 16)", "Issue #12", "issues 13"]) expect(ISSUE_REFERENCE.test(hit)).toBe(true);
    for (const miss of ["an issue with 3 parts", "issuer 12", "tissue 4"]) expect(ISSUE_REFERENCE.test(miss)).toBe(false);
  });

  it("no tracked file cites an issue by number", () => {
    const found: string[] = [];
    for (const file of trackedFiles()) {
      const lines = readFileSync(join(root, file), "utf8").split("\n");
      lines.forEach((line, i) => {
        if (ISSUE_REFERENCE.test(line)) found.push(`${file}:${i + 1}: ${line.trim().slice(0, 120)}`);
      });
    }
    expect(found, "say what the code does instead of which issue asked for it").toEqual([]);
  });
});
