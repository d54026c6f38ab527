/**
 * AR4SI trustworthiness vector (draft-ietf-rats-ar4si) as EAR carries it, and the tiers that turn
 * it into `ear.status` (draft-ietf-rats-ear): 0–1 none, 2–31 affirming, 32–95 warning, 96–127
 * contraindicated. The worst component decides the status.
 */
export const TRUST_COMPONENTS = [
  "instance-identity",
  "configuration",
  "executables",
  "file-system",
  "hardware",
  "runtime-opaque",
  "storage-opaque",
  "sourced-data",
] as const;
export type TrustComponent = (typeof TRUST_COMPONENTS)[number];
export type TrustVector = Partial<Record<TrustComponent, number>>;

export const EAR_STATUSES = ["affirming", "warning", "contraindicated", "none"] as const;
export type EarStatus = (typeof EAR_STATUSES)[number];

/** Values used here, with their AR4SI meaning. */
export const AR4SI = {
  none: 0,
  /** instance-identity: recognised and not compromised; hardware: genuine; executables: approved. */
  affirming: 2,
  /** executables: runtime loaded only approved files; configuration: approved. */
  approvedRuntime: 2,
  /** a recognised but unsafe / unverified state (e.g. software TPM, development TEE, no reference values). */
  warning: 32,
  /** executables: not recognised against any valid reference value. */
  unrecognized: 33,
  /** verification failed / known bad. */
  contraindicated: 96,
  /** configuration: known unsafe (e.g. debug enabled). */
  unsafeConfig: 99,
} as const;

export function tierOf(value: number): EarStatus {
  if (value >= 96) return "contraindicated";
  if (value >= 32) return "warning";
  if (value >= 2) return "affirming";
  return "none";
}

const RANK: Record<EarStatus, number> = { none: 0, affirming: 1, warning: 2, contraindicated: 3 };

/** The worst tier in the vector; an empty vector is `none` (nothing was affirmed). */
export function statusOf(vector: TrustVector): EarStatus {
  let worst: EarStatus = "none";
  let anyAffirming = false;
  for (const value of Object.values(vector)) {
    if (value === undefined) continue;
    const tier = tierOf(value);
    if (tier === "affirming") anyAffirming = true;
    if (RANK[tier] > RANK[worst]) worst = tier;
  }
  return worst === "none" && anyAffirming ? "affirming" : worst;
}

/** True if `status` is at least as good as `required` (affirming > warning > contraindicated/none). */
export function statusAtLeast(status: EarStatus, required: EarStatus): boolean {
  const goodness: Record<EarStatus, number> = { affirming: 3, warning: 2, none: 0, contraindicated: 0 };
  return goodness[status] >= goodness[required] && goodness[status] > 0;
}
