// Each box depends on protocol/, lib/ and libraries, and on another box only through that box's
// public entry: its index.ts or the index.ts of one of its folders (attestation/ear/index.ts), never
// a file inside. This reads every non-test import of the boxes (static and dynamic `import("…")`)
// and names each one that reaches in.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const BOXES = ["manager", "proplet", "kbs", "attestation", "cli", "mqtt", "oci", "db", "certs"];
const SHARED = new Set(["protocol", "lib"]);
const TEST_CODE = /(^|\/)(test|testing)\/|\.test\.ts$/;

function sources(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) sources(path, out);
    else if (entry.name.endsWith(".ts")) out.push(path);
  }
  return out;
}

/** Another box's public entry: `<box>/index.js` or `<box>/<folder>/index.js`. */
function isPublicEntry(target: string): boolean {
  const parts = target.split("/");
  return parts[parts.length - 1] === "index.js" && parts.length <= 3;
}

function reachesIn(): string[] {
  const found: string[] = [];
  for (const box of BOXES) {
    for (const file of sources(join(root, box))) {
      const rel = relative(root, file);
      if (TEST_CODE.test(rel)) continue;
      for (const m of readFileSync(file, "utf8").matchAll(/(?:from\s+|import\(\s*)"(\.[^"]+)"/g)) {
        const target = relative(root, resolve(dirname(file), m[1]!));
        const targetBox = target.split("/")[0]!;
        if (targetBox === box || SHARED.has(targetBox) || isPublicEntry(target)) continue;
        found.push(`${rel} imports ${target}: import it from ${targetBox}'s index instead`);
      }
    }
  }
  return found;
}

describe("box boundaries", () => {
  it("sees the boxes' imports", () => {
    expect(sources(join(root, "manager")).length).toBeGreaterThan(20);
  });

  it("no box reaches into another box's files", () => {
    expect(reachesIn()).toEqual([]);
  });
});
