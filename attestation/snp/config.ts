import { ConfigError } from "../../lib/config-error.js";
import { Type } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import type { SnpAppraisalPolicy } from "./appraise.js";

/** A verifier or policy option that is wrong; raised at construction, so at start-up. */
export class SnpConfigError extends ConfigError {
  constructor(message: string, details?: Record<string, unknown>) {
    super(message, { code: "snp_config_invalid", ...(details ? { details } : {}) });
  }
}

const u8 = Type.Integer({ minimum: 0, maximum: 255 });
const hexList = (bytes: number) => Type.Array(Type.String({ pattern: `^[0-9a-fA-F]{${bytes * 2}}$` }), { maxItems: 10_000 });

/** `SnpAppraisalPolicy` as a schema, so a policy read from a configuration file is checked. */
export const SnpAppraisalPolicySchema = Type.Object(
  {
    allowDebug: Type.Optional(Type.Boolean()),
    allowedVmpls: Type.Optional(Type.Array(Type.Integer({ minimum: 0, maximum: 3 }), { maxItems: 4 })),
    allowMigrationAgent: Type.Optional(Type.Boolean()),
    minimumTcb: Type.Optional(
      Type.Object(
        { bootloader: Type.Optional(u8), tee: Type.Optional(u8), snp: Type.Optional(u8), microcode: Type.Optional(u8), fmc: Type.Optional(u8) },
        { additionalProperties: false },
      ),
    ),
    minimumFirmware: Type.Optional(Type.String({ pattern: "^\\d{1,3}\\.\\d{1,3}(\\.\\d{1,3})?$" })),
    allowedMeasurements: Type.Optional(hexList(48)),
    allowedHostData: Type.Optional(hexList(32)),
    allowedIdKeyDigests: Type.Optional(hexList(48)),
    minimumGuestSvn: Type.Optional(Type.Integer({ minimum: 0, maximum: 0xffff_ffff })),
    allowedSigningKeys: Type.Optional(Type.Array(Type.Union([Type.Literal("vcek"), Type.Literal("vlek")]), { maxItems: 2 })),
  },
  { additionalProperties: false },
);

const check = TypeCompiler.Compile(SnpAppraisalPolicySchema);

/** Checks a policy (e.g. from a configuration file); throws SnpConfigError naming the problems. */
export function validateSnpPolicy(value: unknown): SnpAppraisalPolicy {
  if (check.Check(value)) return value;
  const problems = [...check.Errors(value)].slice(0, 5).map((e) => `${e.path || "/"}: ${e.message}`);
  throw new SnpConfigError(`invalid SNP appraisal policy: ${problems.join("; ")}`, { problems });
}
