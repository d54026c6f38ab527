import { describeWhen } from "./describe-when.js";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { REPO_ROOT } from "./paths.js";

/**
 * The real attestation vectors live in ../shared/vectors (never copied into the repo).
 * Where the folder is missing, tests that need it are skipped with a message, except under
 * CI=true, where a missing folder is a failure.
 */
export const VECTORS_DIR = resolve(process.env.PROPELLER_VECTORS ?? join(REPO_ROOT, "..", "shared", "vectors"));

export function vectorsAvailable(): boolean {
  return existsSync(join(VECTORS_DIR, "README.md"));
}

export function vectorPath(relative: string): string {
  return join(VECTORS_DIR, relative);
}

export function readVector(relative: string): Buffer {
  return readFileSync(vectorPath(relative));
}

/** `describe` for suites that read the vectors. */
export function describeWithVectors(name: string, fn: () => void): void {
  describeWhen(
    name,
    vectorsAvailable(),
    { test: "has the shared attestation vectors", why: `attestation vectors not found at ${VECTORS_DIR}; CI must have ../shared/vectors`, skip: `attestation vectors not found at ${VECTORS_DIR}` },
    fn,
  );
}
