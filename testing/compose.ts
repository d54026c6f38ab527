import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";
import { REPO_ROOT } from "./paths.js";

/** The parts of a docker-compose service the deployment tests read. */
export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  user?: string;
  restart?: string;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  [key: string]: unknown;
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

export const COMPOSE_FILE = join(REPO_ROOT, "docker-compose.yml");

/**
 * Compose's variable interpolation, as `docker compose` applies it to every string: `$$` is a
 * literal `$`, `${NAME:-default}` / `${NAME-default}` / `${NAME}` / `$NAME` take `vars`.
 */
export function interpolate(text: string, vars: Readonly<Record<string, string | undefined>>): string {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (match, braced: string | undefined, op: string | undefined, fallback: string | undefined, bare: string | undefined) => {
    if (match === "$$") return "$";
    const name = braced ?? bare!;
    const value = vars[name];
    if (op === ":-") return value === undefined || value === "" ? fallback ?? "" : value;
    if (op === "-") return value === undefined ? fallback ?? "" : value;
    return value ?? "";
  });
}

function interpolateAll(value: unknown, vars: Readonly<Record<string, string | undefined>>): unknown {
  if (typeof value === "string") return interpolate(value, vars);
  if (Array.isArray(value)) return value.map((v) => interpolateAll(v, vars));
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateAll(v, vars)]));
  return value;
}

/** Reads docker-compose.yml (YAML anchors and merge keys resolved) and interpolates it with `vars`. */
export async function loadCompose(vars: Readonly<Record<string, string | undefined>> = {}): Promise<ComposeFile> {
  const raw = parse(await readFile(COMPOSE_FILE, "utf8"), { merge: true }) as unknown;
  const file = interpolateAll(raw, vars) as ComposeFile;
  for (const service of Object.values(file.services)) {
    // Environment values may be YAML numbers or booleans; compose passes them as strings.
    if (service.environment) service.environment = Object.fromEntries(Object.entries(service.environment).map(([k, v]) => [k, String(v)]));
  }
  return file;
}

/** The shell script of the one-shot `certs` service (its entrypoint is `sh -euc`). */
export function certsScript(compose: ComposeFile): string {
  const certs = compose.services.certs;
  if (!certs?.command || certs.command.length !== 1) throw new Error("the certs service has no one-string shell command");
  return certs.command[0]!;
}
