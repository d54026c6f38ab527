// The build (tsconfig.build.json → dist/, which the Docker image copies whole) carries no test code:
// no test files, no test helpers, no fakes from a testing/ folder. Computed with TypeScript's own
// reading of the config, so a new include or a forgotten exclude shows here.
import { dirname, relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));

function buildInputs(): string[] {
  const configPath = `${root}/tsconfig.build.json`;
  const parsed = ts.getParsedCommandLineOfConfigFile(configPath, {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
    },
  });
  if (!parsed) throw new Error("tsconfig.build.json could not be read");
  return parsed.fileNames.map((f) => relative(root, f));
}

const TEST_CODE = [/(^|\/)test\//, /(^|\/)testing\//, /\.test\.ts$/, /^bench\//];

describe("the build", () => {
  it("compiles the product's sources", () => {
    const files = buildInputs();
    expect(files).toContain("cli/main.ts");
    expect(files).toContain("attestation/snp/verify.ts");
    expect(files).toContain("manager/index.ts");
  });

  it("takes no test file, test helper or fake into dist/", () => {
    const offenders = buildInputs().filter((f) => TEST_CODE.some((re) => re.test(f)));
    expect(offenders).toEqual([]);
  });
});
