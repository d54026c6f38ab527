import type { SqlExecutor } from "../../db/index.js";

export interface StoredPolicy<P> {
  policy: P;
  updatedAt: string;
  updatedBy: string;
}

/** Per-resource release policies and per-TEE attestation (appraisal) policies, as validated JSON. */
export class PolicyStore {
  constructor(private readonly db: SqlExecutor) {}

  async setResourcePolicy(path: string, policy: unknown, actor: string): Promise<void> {
    await this.db.query(
      `INSERT INTO kbs_resource_policies (path, policy, updated_by) VALUES ($1, $2, $3)
       ON CONFLICT (path) DO UPDATE SET policy = EXCLUDED.policy, updated_by = EXCLUDED.updated_by, updated_at = now()`,
      [path, JSON.stringify(policy), actor],
    );
  }

  async resourcePolicy<P>(path: string): Promise<StoredPolicy<P> | undefined> {
    return this.one<P>("SELECT policy, updated_at, updated_by FROM kbs_resource_policies WHERE path = $1", path);
  }

  async deleteResourcePolicy(path: string): Promise<boolean> {
    return (await this.db.query("DELETE FROM kbs_resource_policies WHERE path = $1", [path])).rowCount > 0;
  }

  async setAttestationPolicy(tee: string, policy: unknown, actor: string): Promise<void> {
    await this.db.query(
      `INSERT INTO kbs_attestation_policies (tee, policy, updated_by) VALUES ($1, $2, $3)
       ON CONFLICT (tee) DO UPDATE SET policy = EXCLUDED.policy, updated_by = EXCLUDED.updated_by, updated_at = now()`,
      [tee, JSON.stringify(policy), actor],
    );
  }

  async attestationPolicy<P>(tee: string): Promise<StoredPolicy<P> | undefined> {
    return this.one<P>("SELECT policy, updated_at, updated_by FROM kbs_attestation_policies WHERE tee = $1", tee);
  }

  private async one<P>(sql: string, key: string): Promise<StoredPolicy<P> | undefined> {
    const r = await this.db.query<{ policy: P | string; updated_at: Date; updated_by: string }>(sql, [key]);
    const row = r.rows[0];
    if (!row) return undefined;
    // pg parses JSONB; keep a string fallback for drivers that do not.
    const policy = typeof row.policy === "string" ? (JSON.parse(row.policy) as P) : row.policy;
    return { policy, updatedAt: new Date(row.updated_at).toISOString(), updatedBy: row.updated_by };
  }
}
