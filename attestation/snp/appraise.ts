import { CheckList } from "../result.js";
import type { TeeAppraisal } from "../appraisal/tee-appraisal.js";
import type { SnpClaims, SnpTcbClaim } from "./verify.js";

/**
 * Appraisal of verified SNP claims against a policy: no bytes, no cryptography. Deny by default:
 * with no options a debuggable guest, a VMPL other than 0 and a migration agent are refused.
 */
export interface SnpAppraisalPolicy {
  /** Accept guests whose policy allows the hypervisor to debug them. Never in production. Default false. */
  allowDebug?: boolean;
  /** VMPLs the report may come from. Default [0] (the guest's most privileged level). */
  allowedVmpls?: readonly number[];
  /** Accept guests that may be associated with a migration agent. Default false. */
  allowMigrationAgent?: boolean;
  /** Lowest acceptable REPORTED_TCB, per component (a missing component is not constrained). */
  minimumTcb?: Partial<Omit<SnpTcbClaim, "raw">>;
  /** Lowest acceptable SNP firmware "major.minor" (e.g. "1.55"). */
  minimumFirmware?: string;
  /** Launch measurements (hex, 96 digits) that are allowed. Unset: any; empty: none. */
  allowedMeasurements?: readonly string[];
  /** HOST_DATA values (hex) that are allowed. Unset: any. */
  allowedHostData?: readonly string[];
  /** ID key digests (hex) that are allowed (guests launched with an ID block). Unset: any. */
  allowedIdKeyDigests?: readonly string[];
  /** Lowest acceptable GUEST_SVN. */
  minimumGuestSvn?: number;
  /** Endorsement keys accepted. Default both VCEK and VLEK. */
  allowedSigningKeys?: ReadonlyArray<"vcek" | "vlek">;
}

/** SNP's policy is pass/fail: affirming when every rule passed, contraindicated otherwise. */
export interface SnpAppraisal extends TeeAppraisal {
  /** True only when every policy check passed. */
  ok: boolean;
}

const normHex = (h: string): string => h.toLowerCase().replace(/[^0-9a-f]/g, "");
const TCB_PARTS = ["bootloader", "tee", "snp", "microcode", "fmc"] as const;

function parseFirmware(v: string): [number, number] | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})(?:\.\d{1,3})?$/.exec(v.trim());
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

export function appraiseSnpClaims(claims: SnpClaims, policy: SnpAppraisalPolicy = {}): SnpAppraisal {
  const checks = new CheckList();

  if (claims.policy.debug_allowed) {
    if (policy.allowDebug === true) checks.pass("snp.policy.debug", "guest policy allows debugging; accepted because allowDebug is set (development only)");
    else checks.fail("snp.policy.debug", `guest policy 0x${claims.policy.raw} allows the hypervisor to debug the guest (bit 19)`);
  } else {
    checks.pass("snp.policy.debug", "guest policy forbids debugging");
  }

  const vmpls = policy.allowedVmpls ?? [0];
  checks.add("snp.policy.vmpl", vmpls.includes(claims.vmpl), `VMPL ${claims.vmpl}; allowed: ${vmpls.join(", ") || "none"}`);

  if (claims.policy.migrate_ma_allowed && policy.allowMigrationAgent !== true) {
    checks.fail("snp.policy.migrate_ma", "guest policy allows a migration agent (bit 18), which is not allowed");
  } else {
    checks.pass("snp.policy.migrate_ma", claims.policy.migrate_ma_allowed ? "migration agent allowed by configuration" : "no migration agent");
  }

  const keys = policy.allowedSigningKeys ?? ["vcek", "vlek"];
  checks.add(
    "snp.policy.signing_key",
    claims.signing_key !== "none" && (keys as readonly string[]).includes(claims.signing_key),
    `signed by ${claims.signing_key.toUpperCase()}; allowed: ${keys.join(", ")}`,
  );

  if (policy.minimumTcb) {
    const min = policy.minimumTcb;
    const low = TCB_PARTS.filter((k) => min[k] !== undefined && (claims.reported_tcb[k] ?? 0) < (min[k] as number));
    checks.add(
      "snp.policy.tcb",
      low.length === 0,
      low.length === 0
        ? `REPORTED_TCB ${fmt(claims.reported_tcb)} meets the minimum ${fmt(min)}`
        : `REPORTED_TCB ${fmt(claims.reported_tcb)} is below the minimum ${fmt(min)} in ${low.join(", ")}`,
    );
  }

  if (policy.minimumFirmware !== undefined) {
    const want = parseFirmware(policy.minimumFirmware);
    const have = parseFirmware(claims.current_firmware);
    const ok = !!want && !!have && (have[0] > want[0] || (have[0] === want[0] && have[1] >= want[1]));
    checks.add("snp.policy.firmware", ok, `SNP firmware ${claims.current_firmware}; minimum ${policy.minimumFirmware}`);
  }

  if (policy.minimumGuestSvn !== undefined) {
    checks.add("snp.policy.guest_svn", claims.guest_svn >= policy.minimumGuestSvn, `GUEST_SVN ${claims.guest_svn}; minimum ${policy.minimumGuestSvn}`);
  }

  const allowList = (name: string, what: string, value: string, allowed: readonly string[] | undefined): void => {
    if (allowed === undefined) return;
    const ok = allowed.map(normHex).includes(normHex(value));
    checks.add(name, ok, ok ? `${what} ${value} is allowed` : `${what} ${value} is not among the ${allowed.length} allowed value(s)`);
  };
  allowList("snp.policy.measurement", "measurement", claims.measurement, policy.allowedMeasurements);
  allowList("snp.policy.host_data", "HOST_DATA", claims.host_data, policy.allowedHostData);
  allowList("snp.policy.id_key_digest", "ID key digest", claims.id_key_digest, policy.allowedIdKeyDigests);

  return { ok: checks.ok, status: checks.ok ? "affirming" : "contraindicated", checks: checks.checks };
}

function fmt(t: Partial<Omit<SnpTcbClaim, "raw">>): string {
  const s = (v: number | undefined): string => (v === undefined ? "*" : String(v));
  const core = `${s(t.bootloader)}/${s(t.tee)}/${s(t.snp)}/${s(t.microcode)}`;
  return t.fmc === undefined ? core : `fmc ${t.fmc}, ${core}`;
}
