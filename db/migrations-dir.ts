import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * `<repo>/migrations/<scope>`, whether this code runs from its TypeScript sources (`db/`) or from
 * the build (`dist/db/`): the SQL files are not copied into dist, there is one set.
 */
export function migrationsDir(scope: string): string {
  const candidates = [new URL(`../migrations/${scope}`, import.meta.url), new URL(`../../migrations/${scope}`, import.meta.url)].map((u) => fileURLToPath(u));
  const found = candidates.find((dir) => existsSync(dir));
  if (!found) throw new Error(`the ${scope} migrations are missing: looked in ${candidates.join(" and ")}`);
  return found;
}
