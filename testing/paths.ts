import { fileURLToPath } from "node:url";
import { join } from "node:path";

/** The repository root, whether this runs from the sources (testing/) or the build (dist/testing/). */
const here = fileURLToPath(new URL("..", import.meta.url));
export const REPO_ROOT = here.endsWith("/dist/") ? join(here, "..") : here;
export const MIGRATIONS_DIR = join(REPO_ROOT, "migrations");
export const EXAMPLES_DIR = join(REPO_ROOT, "examples");
