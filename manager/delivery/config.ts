/**
 * The manager's artifact-delivery settings: how it reaches OCI registries to pin a task's reference
 * at create time. Validated with the rest of the manager's configuration (manager/config.ts).
 */
export interface DeliveryConfigInput {
  oci?: {
    /** `host[:port]` of registries reached over plain HTTP; every other registry is HTTPS only. */
    insecureRegistries?: string[];
    /** Credentials by registry host, to read manifests (never echoed, never stored in tasks). */
    credentials?: Record<string, { username: string; password: string }>;
    /** Per registry request (default 15 s): a task create waits for it. */
    timeoutMs?: number;
  };
}

export interface DeliveryConfig {
  oci: { insecureRegistries: string[]; credentials: Record<string, { username: string; password: string }>; timeoutMs: number };
}

const REGISTRY_HOST = /^[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$/;

/** Fills in defaults; pushes one line per bad value onto `problems` (never a password). */
export function resolveDeliveryConfig(input: DeliveryConfigInput | undefined, problems: string[]): DeliveryConfig {
  const oci = input?.oci ?? {};
  const insecure = oci.insecureRegistries ?? [];
  if (!Array.isArray(insecure) || insecure.length > 64 || insecure.some((h) => typeof h !== "string" || !REGISTRY_HOST.test(h))) {
    problems.push("delivery.oci.insecureRegistries: must be at most 64 registry hosts (host or host:port)");
  }
  const entries = typeof oci.credentials === "object" && oci.credentials !== null ? Object.entries(oci.credentials) : [];
  if (entries.length > 64) problems.push("delivery.oci.credentials: at most 64 registries");
  for (const [host, c] of entries) {
    if (!REGISTRY_HOST.test(host)) problems.push(`delivery.oci.credentials: "${host.slice(0, 100)}" is not a registry host`);
    else if (typeof c?.username !== "string" || typeof c?.password !== "string" || c.username.length === 0 || c.username.length > 256 || c.password.length > 4096) {
      problems.push(`delivery.oci.credentials["${host}"]: needs a username (1 to 256 characters) and a password (at most 4096)`);
    }
  }
  const timeoutMs = oci.timeoutMs ?? 15_000;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 10 || timeoutMs > 600_000) problems.push(`delivery.oci.timeoutMs: must be an integer 10..600000 (got ${String(timeoutMs)})`);
  return { oci: { insecureRegistries: Array.isArray(insecure) ? [...insecure] : [], credentials: Object.fromEntries(entries), timeoutMs } };
}
