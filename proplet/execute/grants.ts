/**
 * The host side of a task's grants. A task never names a host path: each granted directory is a
 * fresh empty directory of this run under `<workDir>/runs/<runId>/` (removed when the run ends),
 * or a named volume `<workDir>/volumes/<name>/` that stays between runs on this proplet.
 */
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Grants } from "../../protocol/index.js";
import { PropellerError } from "../../protocol/errors.js";
import type { DirGrant } from "./component/protocol.js";
import { messageOf } from "../../lib/errors.js";

export class GrantError extends PropellerError {
  constructor(message: string) {
    super("invalid_grants", message);
  }
}

export interface PreparedGrants {
  dirs: DirGrant[];
  hosts: string[];
  cleanup(): Promise<void>;
}

const RUN_DIR = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export async function prepareGrants(workDir: string, runId: string, grants: Grants | undefined): Promise<PreparedGrants> {
  const dirs: DirGrant[] = [];
  const wanted = grants?.dirs ?? [];
  const hosts = grants?.hosts ?? [];
  if (wanted.length === 0) return { dirs, hosts, cleanup: async () => undefined };
  if (!RUN_DIR.test(runId)) throw new GrantError(`run id ${JSON.stringify(runId)} cannot name a directory`);
  const seen = new Set<string>();
  for (const d of wanted) {
    if (d.guest.split("/").some((s) => s === "." || s === "..")) throw new GrantError(`granted directory ${d.guest}: "." and ".." are not allowed in a guest path`);
    if (seen.has(d.guest)) throw new GrantError(`directory ${d.guest} is granted twice`);
    seen.add(d.guest);
  }
  const runDir = join(workDir, "runs", runId.replace(/:/g, "_"));
  try {
    for (const [i, d] of wanted.entries()) {
      const host = d.volume ? join(workDir, "volumes", d.volume) : join(runDir, `dir${i}`);
      await mkdir(host, { recursive: true, mode: 0o700 });
      dirs.push({ guest: d.guest, host, readonly: d.readonly ?? false });
    }
  } catch (err) {
    await rm(runDir, { recursive: true, force: true });
    throw new GrantError(`could not prepare the granted directories: ${messageOf(err)}`);
  }
  return { dirs, hosts, cleanup: () => rm(runDir, { recursive: true, force: true }) };
}
