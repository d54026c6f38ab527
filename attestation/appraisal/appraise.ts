import { isDevelopmentOnlyTee } from "../../protocol/index.js";
import { CheckList, type Check, type VerificationResult } from "../result.js";
import { AR4SI, statusOf, type EarStatus, type TrustVector } from "../ear/trust-vector.js";
import { claimEquals, claimNumber, resolvePointer, show } from "./json-pointer.js";
import type { AttestationPolicy } from "./policy.js";
import type { ReferenceValue } from "./reference-values.js";
import { appraiseTeePolicy } from "./tee-policy.js";

export interface AppraisalInput {
  tee: string;
  /** The verifier's result, or why verification could not run (unparseable evidence, …). */
  verification: VerificationResult | { error: string };
  policy: AttestationPolicy;
  referenceValues: readonly ReferenceValue[];
  developmentMode: boolean;
  now?: Date;
}

export interface Appraisal {
  status: EarStatus;
  /** The claims the token carries: the verifier's, with what the TEE's rules added (TDX's `ear_status`). */
  claims: Record<string, unknown>;
  trustVector: TrustVector;
  policyId: string;
  /** Every appraisal check, then the verifier's checks (prefixed `verify.`). */
  checks: Check[];
  /** True when the result rests on a development-only TEE (protocol/tees.ts: the sample TEE). */
  development: boolean;
}

export interface EvidenceAppraisalInput extends AppraisalInput {
  /** The TEE's own rules' policy (validateTeePolicy); undefined: their deny-by-default defaults. */
  teePolicy?: unknown;
}

/**
 * The appraisal stage for a verifier's result: the TEE's own rules (tee-policy.ts), then policy and
 * reference values (appraise). What the KBS and `propeller attestation verify` run after a verifier.
 */
export function appraiseEvidence(input: EvidenceAppraisalInput): Appraisal {
  const { teePolicy, ...rest } = input;
  return appraise("error" in rest.verification ? rest : { ...rest, verification: appraiseTeePolicy(rest.verification, teePolicy) });
}

/**
 * Claims + policy + reference values → EAR status and AR4SI vector. No bytes, no crypto: the
 * verifier has already checked signatures, chains and the report-data binding. Any failed
 * verification check makes the result contraindicated.
 */
export function appraise(input: AppraisalInput): Appraisal {
  const now = input.now ?? new Date();
  const checks = new CheckList();
  const vector: TrustVector = {};
  const development = isDevelopmentOnlyTee(input.tee);

  if ("error" in input.verification) {
    checks.fail("appraisal.verification", `evidence could not be verified: ${input.verification.error}`);
    return done(input, checks, { "instance-identity": AR4SI.contraindicated }, [], development);
  }
  const verification = input.verification;
  const failed = verification.checks.filter((c) => !c.ok);
  if (!verification.ok) {
    checks.fail("appraisal.verification", `${failed.length || "some"} verification check(s) failed: ${failed.map((c) => `${c.name}${c.detail ? ` (${c.detail})` : ""}`).join("; ") || "no checks were made"}`);
    return done(input, checks, { "instance-identity": AR4SI.contraindicated }, verification.checks, development);
  }
  checks.pass("appraisal.verification", `all ${verification.checks.length} verification checks passed`);
  vector["instance-identity"] = AR4SI.affirming;

  if (development) {
    if (!input.developmentMode) {
      checks.fail("appraisal.development", `the ${input.tee} TEE has no hardware root of trust and is accepted only in development mode`);
      vector["hardware"] = AR4SI.contraindicated;
    } else {
      checks.pass("appraisal.development", `DEVELOPMENT MODE: ${input.tee} TEE accepted, no hardware root of trust`);
      vector["hardware"] = AR4SI.none;
    }
  } else {
    vector["hardware"] = AR4SI.affirming;
  }

  const claims = verification.claims;
  for (const pointer of input.policy.unsafeClaims ?? []) {
    if (resolvePointer(claims, pointer) === true) {
      checks.fail("appraisal.hardware", `${pointer} is true: no hardware protection`);
      vector["hardware"] = Math.max(vector["hardware"] ?? 0, AR4SI.warning);
    }
  }

  // A TPM attestation key accepted without enrolment (development only) identifies nothing.
  if (claims.ak_trusted === false) {
    checks.fail("appraisal.identity", "the attestation key is not enrolled (accepted only because the verifier allows any AK)");
    vector["instance-identity"] = AR4SI.warning;
  }
  // Verifiers that appraise platform TCB themselves (TDX) report a warning state as a claim.
  if (claims.ear_status === "warning") {
    checks.fail("appraisal.tcb", `the verifier rated the platform "warning"${claims.tcb_status ? ` (TCB status ${String(claims.tcb_status)})` : ""}`);
    vector["hardware"] = Math.max(vector["hardware"] ?? 0, AR4SI.warning);
  }

  let configuration: number = AR4SI.affirming;
  for (const pointer of input.policy.debugClaims ?? []) {
    if (resolvePointer(claims, pointer) === true) {
      checks.fail("appraisal.debug", `${pointer} is true: the TEE is debuggable`);
      configuration = AR4SI.unsafeConfig;
    }
  }
  for (const [pointer, minimum] of Object.entries(input.policy.minimums ?? {})) {
    const value = claimNumber(resolvePointer(claims, pointer));
    if (value === undefined || value < minimum) {
      checks.fail(`appraisal.minimum:${pointer}`, `${pointer} is ${show(resolvePointer(claims, pointer))}, the minimum is ${minimum}`);
      configuration = Math.max(configuration, AR4SI.contraindicated);
    } else checks.pass(`appraisal.minimum:${pointer}`, `${pointer} = ${value} ≥ ${minimum}`);
  }
  vector["configuration"] = configuration;

  vector["executables"] = appraiseReferenceValues(input, claims, now, checks);
  return done(input, checks, vector, verification.checks, development);
}

function appraiseReferenceValues(input: AppraisalInput, claims: Record<string, unknown>, now: Date, checks: CheckList): number {
  const byClaim = new Map<string, ReferenceValue[]>();
  for (const rv of input.referenceValues) {
    if (rv.tee !== input.tee) continue;
    byClaim.set(rv.claim, [...(byClaim.get(rv.claim) ?? []), rv]);
  }
  if (byClaim.size === 0) {
    if (input.policy.requireReferenceValues === false) {
      checks.pass("appraisal.reference-values", `no reference values for ${input.tee}; the policy does not require them`);
      return AR4SI.none;
    }
    checks.fail("appraisal.reference-values", `no reference values are configured for ${input.tee}: the measurements cannot be recognised`);
    return AR4SI.unrecognized;
  }
  let worst: number = AR4SI.approvedRuntime;
  for (const [pointer, values] of byClaim) {
    const actual = resolvePointer(claims, pointer);
    const valid = values.filter((v) => Date.parse(v.expiresAt) > now.getTime());
    const matchValid = valid.find((v) => claimEquals(actual, v.value));
    if (matchValid) {
      checks.pass(`appraisal.reference-value:${pointer}`, `${pointer} = ${show(actual)} matches reference value ${matchValid.id} (valid until ${matchValid.expiresAt})`);
      continue;
    }
    const matchExpired = values.find((v) => claimEquals(actual, v.value));
    const reason = actual === undefined
      ? `${pointer} is absent from the ${input.tee} claims`
      : matchExpired
        ? `${pointer} = ${show(actual)} matches only reference value ${matchExpired.id}, which expired at ${matchExpired.expiresAt}`
        : `${pointer} = ${show(actual)} matches none of the ${valid.length} valid reference value(s)`;
    checks.fail(`appraisal.reference-value:${pointer}`, reason);
    worst = Math.max(worst, AR4SI.unrecognized);
  }
  return worst;
}

function done(input: AppraisalInput, checks: CheckList, vector: TrustVector, verifierChecks: Check[], development: boolean): Appraisal {
  return {
    status: statusOf(vector),
    claims: "error" in input.verification ? {} : input.verification.claims,
    trustVector: vector,
    policyId: input.policy.id,
    checks: [...checks.checks, ...verifierChecks.map((c) => ({ ...c, name: `verify.${c.name}` }))],
    development,
  };
}
