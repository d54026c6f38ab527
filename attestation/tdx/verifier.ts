import type { Logger } from "pino";
import type { VerificationResult } from "../result.js";
import type { Verifier, VerifyExpectations } from "../verifier.js";
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
  /** Defaults to the pinned Intel SGX Root CA. */
  trustAnchorPem?: string;
  requireCrls?: boolean;
  chainCache?: BoundedCache<ChainEntry>;
  logger?: Logger;
}

export interface TdxVerifierClaims extends TdxClaims {
  cc_eventlog_present: boolean;
}

/**
 * The `Verifier` for tee "tdx": Trustee's TDX evidence → verified quote (signatures, PCK chain,
 * collateral, TCB level). Rating the TCB status and the TD's attributes is the appraisal stage's
 * (tdx/appraise.ts through appraisal/tee-policy.ts), which adds `ear_status` to the claims.
 */
export class TdxVerifier implements Verifier {
  readonly tee = "tdx" as const;

  constructor(private readonly options: TdxVerifierOptions) {}

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
    return { ...result, claims: { ...result.claims, cc_eventlog_present: decoded.ccEventLog !== undefined } };
  }
}
