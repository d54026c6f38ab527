import type { Logger } from "pino";
import type { VerificationResult } from "../result.js";
import type { Verifier, VerifyExpectations } from "../verifier.js";
import { withTeeAppraisal } from "../appraisal/tee-appraisal.js";
import { appraiseTdx, validateTdxPolicy, type TdxAppraisalPolicy } from "./appraise.js";
import type { BoundedCache, ChainEntry } from "./chain.js";
import type { TdxCollateral } from "./collateral.js";
import { decodeTdxEvidence } from "./evidence.js";
import { verifyTdxQuote, type TdxClaims } from "./verify-quote.js";
import { pckFmspcOfQuote } from "./fmspc.js";
import { parseTdxQuote } from "./quote.js";

/** Collateral for a platform, looked up by the FMSPC in its PCK certificate (e.g. from a PCCS cache). */
export type TdxCollateralSource = TdxCollateral | ((fmspc: string) => Promise<TdxCollateral | undefined>);

export interface TdxVerifierOptions {
  collateral: TdxCollateralSource;
  policy?: TdxAppraisalPolicy;
  /** Defaults to the pinned Intel SGX Root CA. */
  trustAnchorPem?: string;
  requireCrls?: boolean;
  chainCache?: BoundedCache<ChainEntry>;
  logger?: Logger;
}

export interface TdxVerifierClaims extends TdxClaims {
  /** Outcome of appraisal against the configured policy. */
  ear_status: "affirming" | "warning" | "contraindicated";
  cc_eventlog_present: boolean;
}

/**
 * The `Verifier` for tee "tdx": Trustee's TDX evidence → verified quote → appraisal. `ok` is true
 * only when every verification check passed and the appraisal is not contraindicated (a "warning"
 * TCB is accepted, with `ear_status: "warning"` in the claims for the token).
 */
export class TdxVerifier implements Verifier {
  readonly tee = "tdx" as const;
  private readonly policy: TdxAppraisalPolicy;

  constructor(private readonly options: TdxVerifierOptions) {
    this.policy = validateTdxPolicy(options.policy ?? {});
  }

  async verify(evidence: unknown, expectations: VerifyExpectations): Promise<VerificationResult<TdxVerifierClaims>> {
    const decoded = decodeTdxEvidence(evidence);
    const source = this.options.collateral;
    let collateral: TdxCollateral | undefined;
    if (typeof source === "function") {
      const fmspc = pckFmspcOfQuote(parseTdxQuote(decoded.quote));
      collateral = fmspc === undefined ? undefined : await source(fmspc);
    } else collateral = source;

    const { result } = await verifyTdxQuote(decoded.quote, {
      ...(collateral ? { collateral } : {}),
      ...(expectations.now ? { now: expectations.now } : {}),
      ...(expectations.reportData ? { reportData: expectations.reportData } : {}),
      ...(this.options.trustAnchorPem ? { trustAnchorPem: this.options.trustAnchorPem } : {}),
      ...(this.options.requireCrls !== undefined ? { requireCrls: this.options.requireCrls } : {}),
      ...(this.options.chainCache ? { chainCache: this.options.chainCache } : {}),
      ...(this.options.logger ? { logger: this.options.logger } : {}),
    });
    const appraisal = appraiseTdx(result, this.policy);
    const claims: TdxVerifierClaims = { ...result.claims, ear_status: appraisal.status, cc_eventlog_present: decoded.ccEventLog !== undefined };
    return { ...withTeeAppraisal(result, appraisal), claims };
  }
}
