import { Type, type Static } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { PropellerError } from "../../protocol/errors.js";
import { CheckList, type VerificationResult } from "../result.js";
import { TEE_APPRAISAL_STATUSES, type TeeAppraisal, type TeeAppraisalStatus } from "../appraisal/tee-appraisal.js";
import { NO_MATCHING_TCB_LEVEL, TCB_STATUSES, type TcbOutcome } from "./tcb.js";
import type { TdxClaims } from "./verify-quote.js";

/**
 * Stage 3: appraisal of verified TDX claims against policy. No bytes, no crypto: claims in,
 * an EAR status (draft-ietf-rats-ear: affirming / warning / contraindicated) out, with a check per
 * rule so an operator sees why.
 *
 * Default TCB status table (override any row with `tcbStatus`):
 *
 * | TCB status                         | EAR status      | why                                                |
 * |------------------------------------|-----------------|----------------------------------------------------|
 * | UpToDate                           | affirming       | patched platform                                   |
 * | SWHardeningNeeded                  | warning         | patched; residual risk mitigated in software (SA)  |
 * | ConfigurationNeeded                | warning         | patched; a BIOS/platform setting is advised        |
 * | ConfigurationAndSWHardeningNeeded  | warning         | both of the above                                  |
 * | OutOfDate                          | contraindicated | known vulnerabilities unpatched                    |
 * | OutOfDateConfigurationNeeded       | contraindicated | as OutOfDate                                       |
 * | Revoked                            | contraindicated | Intel revoked the platform's keys                  |
 * | NoMatchingTcbLevel                 | contraindicated | older than anything Intel still lists              |
 *
 * A debug TD (TD_ATTRIBUTES bit 0) lets the host read and change TD memory, so its measurements
 * prove nothing: contraindicated unless `allowDebug` (for development only).
 * Evidence that did not verify (any failed check) is contraindicated whatever its claims.
 */

/** A TEE policy's verdict (appraisal/tee-appraisal.ts); the token's own status adds "none". */
export const EAR_STATUSES = TEE_APPRAISAL_STATUSES;
export type EarStatus = TeeAppraisalStatus;
const severity: Record<EarStatus, number> = { affirming: 0, warning: 1, contraindicated: 2 };

export type TcbStatusTable = Record<TcbOutcome, EarStatus>;

export const DEFAULT_TCB_STATUS_TABLE: Readonly<TcbStatusTable> = Object.freeze({
  UpToDate: "affirming",
  SWHardeningNeeded: "warning",
  ConfigurationNeeded: "warning",
  ConfigurationAndSWHardeningNeeded: "warning",
  OutOfDate: "contraindicated",
  OutOfDateConfigurationNeeded: "contraindicated",
  Revoked: "contraindicated",
  NoMatchingTcbLevel: "contraindicated",
});

const Ear = Type.Union(EAR_STATUSES.map((s) => Type.Literal(s)));
const HexList = (bytes: number) => Type.Array(Type.String({ pattern: `^[0-9a-fA-F]{${bytes * 2}}$` }), { maxItems: 1024 });

export const TdxAppraisalPolicySchema = Type.Object(
  {
    /** Rows overriding DEFAULT_TCB_STATUS_TABLE. */
    tcbStatus: Type.Optional(Type.Partial(Type.Object(Object.fromEntries([...TCB_STATUSES, NO_MATCHING_TCB_LEVEL].map((s) => [s, Ear]))), { additionalProperties: false })),
    /** Accept debug TDs (development only). Default false. */
    allowDebug: Type.Optional(Type.Boolean()),
    /** Reference values: when a list is given, the claim must be one of its entries. */
    reference: Type.Optional(
      Type.Object(
        {
          mrtd: Type.Optional(HexList(48)),
          mrseam: Type.Optional(HexList(48)),
          mrconfigid: Type.Optional(HexList(48)),
          mrowner: Type.Optional(HexList(48)),
          mrownerconfig: Type.Optional(HexList(48)),
          rtmr0: Type.Optional(HexList(48)),
          rtmr1: Type.Optional(HexList(48)),
          rtmr2: Type.Optional(HexList(48)),
          rtmr3: Type.Optional(HexList(48)),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type TdxAppraisalPolicy = Static<typeof TdxAppraisalPolicySchema>;

export class PolicyError extends PropellerError {
  constructor(message: string, details?: Record<string, unknown>) {
    super("policy_invalid", message, details);
  }
}

const policyCheck = TypeCompiler.Compile(TdxAppraisalPolicySchema);

/** Validate a policy (at configuration time, so a typo fails at start-up). */
export function validateTdxPolicy(policy: unknown): TdxAppraisalPolicy {
  if (policyCheck.Check(policy)) return policy;
  const problems = [...policyCheck.Errors(policy)].slice(0, 5).map((e) => `${e.path || "/"}: ${e.message}`);
  throw new PolicyError(`TDX appraisal policy is invalid: ${problems.join("; ")}`, { problems });
}

export type TdxAppraisal = TeeAppraisal;

export function appraiseTdx(result: VerificationResult<TdxClaims>, policy: TdxAppraisalPolicy = {}): TdxAppraisal {
  const table: TcbStatusTable = { ...DEFAULT_TCB_STATUS_TABLE, ...(policy.tcbStatus ?? {}) } as TcbStatusTable;
  const checks = new CheckList();
  let status: EarStatus = "affirming";
  const worsen = (s: EarStatus): void => {
    if (severity[s] > severity[status]) status = s;
  };

  const failed = result.checks.filter((c) => !c.ok).map((c) => c.name);
  if (!checks.add("tdx.policy.verified", failed.length === 0, failed.length === 0 ? "every verification check passed" : `failed: ${failed.join(", ")}`)) {
    worsen("contraindicated");
  }

  const claims = result.claims;
  const debug = claims.td_attributes.debug;
  const allowDebug = policy.allowDebug ?? false;
  if (!checks.add("tdx.policy.debug", !debug || allowDebug, debug ? (allowDebug ? "debug TD allowed by policy" : "debug TD: host can read and modify TD memory") : "production TD")) {
    worsen("contraindicated");
  }

  const tcb = claims.tcb_status ?? NO_MATCHING_TCB_LEVEL;
  const mapped = table[tcb];
  checks.add("tdx.policy.tcb_status", mapped !== "contraindicated", `TCB status ${tcb} → ${mapped}${claims.advisory_ids?.length ? ` (${claims.advisory_ids.join(", ")})` : ""}`);
  worsen(mapped);

  for (const [field, allowed] of Object.entries(policy.reference ?? {})) {
    if (!allowed) continue;
    const actual = claims[field];
    const ok = typeof actual === "string" && allowed.some((v) => v.toLowerCase() === actual);
    if (!checks.add(`tdx.policy.reference.${field}`, ok, ok ? `${field} is a reference value` : `${field} ${String(actual)} is not among ${allowed.length} reference value(s)`)) {
      worsen("contraindicated");
    }
  }
  return { status, checks: checks.checks };
}
