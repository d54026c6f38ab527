/**
 * The committed example .wasm files are what examples/build.sh makes from the C sources (clang
 * builds them byte for byte the same, checked here). Skipped where clang is not installed.
 * The example components are rebuilt with jco alone (examples/components/build.mjs), always.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { sha256Digest } from "../../protocol/index.js";
import { EXAMPLES_DIR } from "../../testing/paths.js";

function hasClang(): boolean {
  try {
    execFileSync("clang", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!hasClang())("examples", () => {
  it("build.sh rebuilds exactly the committed .wasm files", async () => {
    const out = await mkdtemp(join(tmpdir(), "propeller-examples-"));
    try {
      execFileSync(join(EXAMPLES_DIR, "build.sh"), [out], { stdio: "pipe", timeout: 60_000 });
      for (const file of ["hello/hello.wasm", "primes/primes.wasm", "add/add.wasm", "fl/logreg.wasm"]) {
        const built = await readFile(join(out, file));
        const committed = await readFile(join(EXAMPLES_DIR, file));
        expect(sha256Digest(committed), `${file} is stale: run examples/build.sh`).toBe(sha256Digest(built));
      }
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});

describe("example components", () => {
  it("examples/components/build.mjs rebuilds exactly the committed components (jco only, no clang)", async () => {
    const out = await mkdtemp(join(tmpdir(), "propeller-example-components-"));
    try {
      execFileSync(process.execPath, [join(EXAMPLES_DIR, "components", "build.mjs"), out], { stdio: "pipe", timeout: 120_000 });
      for (const file of ["hello-p2/hello.component.wasm", "calc/calc.wasm", "hello-http/hello-http.wasm", "notes/notes.wasm", "notes/notes.component.wasm", "fl/logreg.component.wasm"]) {
        const built = await readFile(join(out, file));
        const committed = await readFile(join(EXAMPLES_DIR, "components", file));
        expect(sha256Digest(committed), `components/${file} is stale: run node examples/components/build.mjs`).toBe(sha256Digest(built));
      }
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 150_000);
});

