import { fileURLToPath } from "node:url";
import { join } from "node:path";

export const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));
export const MIGRATIONS_DIR = join(REPO_ROOT, "migrations");
export const EXAMPLES_DIR = join(REPO_ROOT, "examples");
