// Names and comments say what code does and why, not which tracker item asked for it: an issue
// number means nothing to a reader of the tree and goes stale when the tracker moves. This reads
// every tracked source and documentation file and names each line that cites an issue by number.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const SOURCE = /\.(ts|js|c|h|md|sh|yml|yaml|cmake)$|(^|\/)CMakeLists\.txt$/;
/** "issue 16", "Issue #12", "issues 13–14": a tracker reference, not prose about an issue. */
export const ISSUE_REFERENCE = /\bissues?\s*#?\d+/i;

function trackedFiles(): string[] {
  const self = "testing/test/no-issue-numbers.test.ts"; // its own examples of the pattern
  return execFileSync("git", ["ls-files", "-z"], { cwd: root, encoding: "utf8" }).split("\0").filter((f) => SOURCE.test(f) && f !== self);
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
