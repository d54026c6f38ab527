import { Type, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { claimEquals, claimNumber, JSON_POINTER_PATTERN, resolvePointer, show } from "../../attestation/appraisal/index.js";
import { statusAtLeast, type EarStatus } from "../../attestation/ear/index.js";
import { TEE_TYPES } from "../../protocol/index.js";
import { DEBUG_CLAIMS } from "../../attestation/appraisal/index.js";
import { KbsError } from "../errors.js";

const Pointer = Type.String({ pattern: JSON_POINTER_PATTERN, maxLength: 256 });
const Hex = Type.String({ pattern: "^[0-9a-fA-F]{2,256}$" });
const ClaimValue = Type.Union([Type.String({ maxLength: 1024 }), Type.Number(), Type.Boolean()]);
const AllowList = <T extends typeof Hex | typeof ClaimValue>(item: T) => Type.Array(item, { minItems: 1, maxItems: 256 });

/**
 * A resource's release policy: declarative, readable, validated on upload. Everything not allowed
 * is denied; every condition that fails is reported in words. Pointers are into the TEE's claims.
 */
export const ResourcePolicySchema = Type.Object(
  {
    description: Type.Optional(Type.String({ maxLength: 1000 })),
    /** Which TEEs may receive the resource. Required: no implicit "any TEE". */
    allowedTees: Type.Array(Type.Union(TEE_TYPES.map((t) => Type.Literal(t))), { minItems: 1, uniqueItems: true }),
    /** The weakest acceptable `ear.status`. Default affirming. */
    requiredStatus: Type.Optional(Type.Union([Type.Literal("affirming"), Type.Literal("warning")])),
    /** SNP launch measurement allow-list (claim /measurement). */
    measurement: Type.Optional(AllowList(Hex)),
    /** TDX MRTD allow-list. */
    mrtd: Type.Optional(AllowList(Hex)),
    /** TDX RTMR allow-lists by index 0–3. */
    rtmrs: Type.Optional(Type.Record(Type.String({ pattern: "^[0-3]$" }), AllowList(Hex), { additionalProperties: false })),
    /** TPM PCR (SHA-256 bank) allow-lists by index 0–23. */
    pcrs: Type.Optional(Type.Record(Type.String({ pattern: "^([0-9]|1[0-9]|2[0-3])$" }), AllowList(Hex), { additionalProperties: false })),
    /** Allow-lists for any claim. */
    claims: Type.Optional(Type.Record(Pointer, AllowList(ClaimValue), { additionalProperties: false })),
    /** Allow-lists for the runtime data the client bound (e.g. `/proplet-id`). */
    runtimeData: Type.Optional(Type.Record(Pointer, AllowList(ClaimValue), { additionalProperties: false })),
    /** Minimum TCB / SVN levels. */
    minimums: Type.Optional(Type.Record(Pointer, Type.Integer({ minimum: 0 }), { additionalProperties: false })),
    /** Debuggable TEEs are refused unless this is true. */
    allowDebug: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type ResourcePolicy = Static<typeof ResourcePolicySchema>;

/** Validates a policy document; throws KbsError InvalidPolicy listing every problem. */
export function parseResourcePolicy(value: unknown): ResourcePolicy {
  if (!Value.Check(ResourcePolicySchema, value)) {
    const problems = [...Value.Errors(ResourcePolicySchema, value)].slice(0, 20).map((e) => `${e.path || "(policy)"}: ${e.message}`);
    throw new KbsError("InvalidPolicy", `the resource policy is invalid: ${problems.join("; ")}`);
  }
  return value;
}

export interface ReleaseContext {
  tee: string;
  status: EarStatus;
  teeClaims: Record<string, unknown>;
  runtimeData: Record<string, unknown>;
  /** The token came from the sample TEE / development mode. */
  development: boolean;
  /** This KBS runs in development mode. */
  developmentMode: boolean;
}

export interface Decision {
  allowed: boolean;
  /** One sentence per failed condition (empty when allowed). */
  reasons: string[];
}


/** Claim pointers the shorthand fields may name, first present wins (verifiers differ in naming). */
const SHORTHAND = {
  measurement: ["/measurement", "/snp/measurement"],
  mrtd: ["/mrtd", "/mr_td"],
  rtmr: (i: string) => [`/rtmr${i}`, `/rtmr_${i}`, `/rtmrs/${i}`],
  pcr: (i: string) => [`/pcrs/${i}`, `/tpm/pcrs/${i}`, `/pcr${i}`],
};

/** Evaluates a policy; every failed condition is explained. */
export function evaluateResourcePolicy(policy: ResourcePolicy, ctx: ReleaseContext): Decision {
  const reasons: string[] = [];
  if (ctx.development && !ctx.developmentMode) reasons.push("the token was issued for a development-only TEE and this KBS is not in development mode");
  if (!(policy.allowedTees as string[]).includes(ctx.tee)) reasons.push(`TEE "${ctx.tee}" is not allowed (allowed: ${policy.allowedTees.join(", ")})`);
  const required = policy.requiredStatus ?? "affirming";
  if (!statusAtLeast(ctx.status, required)) reasons.push(`ear.status is "${ctx.status}", the policy requires "${required}"${required === "warning" ? " or better" : ""}`);

  const allow = (label: string, pointers: string[], allowed: readonly unknown[], source: Record<string, unknown>) => {
    const pointer = pointers.find((p) => resolvePointer(source, p) !== undefined) ?? pointers[0]!;
    const actual = resolvePointer(source, pointer);
    if (!allowed.some((v) => claimEquals(actual, v))) {
      reasons.push(`${label} ${pointer} is ${show(actual)}, not one of the ${allowed.length} allowed value(s)`);
    }
  };
  if (policy.measurement) allow("measurement", SHORTHAND.measurement, policy.measurement, ctx.teeClaims);
  if (policy.mrtd) allow("MRTD", SHORTHAND.mrtd, policy.mrtd, ctx.teeClaims);
  for (const [i, values] of Object.entries(policy.rtmrs ?? {})) allow(`RTMR${i}`, SHORTHAND.rtmr(i), values, ctx.teeClaims);
  for (const [i, values] of Object.entries(policy.pcrs ?? {})) allow(`PCR${i}`, SHORTHAND.pcr(i), values, ctx.teeClaims);
  for (const [pointer, values] of Object.entries(policy.claims ?? {})) allow("claim", [pointer], values, ctx.teeClaims);
  for (const [pointer, values] of Object.entries(policy.runtimeData ?? {})) allow("runtime data", [pointer], values, ctx.runtimeData);

  for (const [pointer, minimum] of Object.entries(policy.minimums ?? {})) {
    const raw = resolvePointer(ctx.teeClaims, pointer);
    const value = claimNumber(raw);
    if (value === undefined || value < minimum) reasons.push(`${pointer} is ${show(raw)}, below the minimum ${minimum}`);
  }
  if (policy.allowDebug !== true) {
    const on = DEBUG_CLAIMS.filter((p) => resolvePointer(ctx.teeClaims, p) === true);
    if (on.length > 0) reasons.push(`the TEE is debuggable (${on.join(", ")} true) and the policy forbids debug`);
  }
  return { allowed: reasons.length === 0, reasons };
}
