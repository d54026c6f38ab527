/**
 * A PostgreSQL cluster of the test's own (Debian's pg_createcluster), on a free loopback port with
 * trust auth, so a fault test can restart it without touching the machine's shared cluster.
 */
import { execFile } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { promisify } from "node:util";
import { freePort } from "./net.js";

const run = promisify(execFile);

export interface PrivatePostgres {
  url: string;
  restart(): Promise<void>;
  dispose(): Promise<void>;
}

function pgVersion(): string | null {
  if (!existsSync("/usr/lib/postgresql")) return null;
  return readdirSync("/usr/lib/postgresql").sort((a, b) => Number(a) - Number(b)).pop() ?? null;
}

export function privatePostgresAvailable(): boolean {
  return pgVersion() !== null && existsSync("/usr/bin/pg_createcluster") && process.getuid?.() === 0;
}

/** `dataDir`: where the cluster keeps its files (e.g. a small tmpfs, to fill the disk under it). */
export async function startPrivatePostgres(options: { dataDir?: string } = {}): Promise<PrivatePostgres> {
  const version = pgVersion();
  if (!version) throw new Error("no PostgreSQL server installed (apt-get install postgresql)");
  const port = await freePort();
  const name = `propeller_test_${port}`;
  const dataDir = options.dataDir ? ["-d", options.dataDir] : [];
  await run("pg_createcluster", [version, name, "-p", String(port), ...dataDir, "--start", "--", "--auth-local=trust", "--auth-host=trust"], { timeout: 120_000 });
  const ctl = (action: string) => run("pg_ctlcluster", ["--skip-systemctl-redirect", version, name, action], { timeout: 120_000 });
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    restart: async () => {
      await ctl("restart");
    },
    dispose: async () => {
      await run("pg_dropcluster", ["--stop", version, name], { timeout: 120_000 }).catch(() => undefined);
    },
  };
}
