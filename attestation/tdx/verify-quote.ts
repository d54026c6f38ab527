import { timingSafeEqual } from "node:crypto";
import type { Logger } from "pino";
import { CheckList, type VerificationResult } from "../result.js";
import { intelSgxRoot, trustAnchorFromPem, type BoundedCache, type ChainEntry, type TrustAnchor } from "./chain.js";
import { checkCrl, verifyCollateralDocuments, type TdxCollateral } from "./collateral.js";
import { decodeTdAttributes, parseTdxQuote, type TdxQuote } from "./quote.js";
import { evaluateTcb, NO_MATCHING_TCB_LEVEL, type TcbEvaluation, type TcbOutcome } from "./tcb.js";
import { verifyQuoteSignatures } from "./verify.js";

/** What a verified TDX quote says, as flat JSON (hex strings lower case). */
export interface TdxClaims extends Record<string, unknown> {
  quote_version: number;
  body_type: "TD1.0" | "TD1.5";
  mrtd: string;
  rtmr0: string;
  rtmr1: string;
  rtmr2: string;
  rtmr3: string;
  mrconfigid: string;
  mrowner: string;
  mrownerconfig: string;
  mrseam: string;
  mrsignerseam: string;
  seam_attributes: string;
  report_data: string;
  td_attributes: { hex: string; debug: boolean; sept_ve_disable: boolean; pks: boolean; kl: boolean; perfmon: boolean };
  xfam: string;
  tee_tcb_svn: string;
  tee_tcb_svn2?: string;
  mrservicetd?: string;
  qe_isvsvn: number;
  fmspc?: string;
  pcesvn?: number;
  sgx_type?: number;
  /** Converged TCB status, or "NoMatchingTcbLevel"; absent without collateral. */
  tcb_status?: TcbOutcome;
  tcb_evaluation_data_number?: number;
  advisory_ids?: string[];
}

export interface VerifyTdxQuoteOptions {
  /** Intel collateral. Without it only the quote's own signatures and chain are verified, and the result is not ok. */
  collateral?: TdxCollateral;
  /** Clock for certificates, CRLs and collateral. Defaults to now. */
  now?: Date;
  /** Expected REPORTDATA (64 bytes; shorter values are zero-padded). */
  reportData?: Uint8Array;
  /** Trust anchor PEM; defaults to the pinned Intel SGX Root CA. Tests substitute their own root. */
  trustAnchorPem?: string;
  /** Require both CRLs (default true). A missing CRL is then a failed check. */
  requireCrls?: boolean;
  /** Chain cache; defaults to the module-wide bounded cache. */
  chainCache?: BoundedCache<ChainEntry>;
  logger?: Logger;
}

export interface TdxVerification {
  result: VerificationResult<TdxClaims>;
  quote: TdxQuote;
  tcb?: TcbEvaluation;
}

const anchors = new Map<string, TrustAnchor>();
function anchorFor(pem: string | undefined): TrustAnchor {
  if (pem === undefined) return intelSgxRoot();
  let a = anchors.get(pem);
  if (!a) {
    a = trustAnchorFromPem(pem);
    // A handful of roots at most (tests); bound it anyway.
    if (anchors.size >= 16) anchors.clear();
    anchors.set(pem, a);
  }
  return a;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

export function claimsOf(quote: TdxQuote): TdxClaims {
  const b = quote.body;
  const attrs = decodeTdAttributes(b.tdAttributes);
  const claims: TdxClaims = {
    quote_version: quote.header.version,
    body_type: b.kind,
    mrtd: hex(b.mrTd),
    rtmr0: hex(b.rtmrs[0]),
    rtmr1: hex(b.rtmrs[1]),
    rtmr2: hex(b.rtmrs[2]),
    rtmr3: hex(b.rtmrs[3]),
    mrconfigid: hex(b.mrConfigId),
    mrowner: hex(b.mrOwner),
    mrownerconfig: hex(b.mrOwnerConfig),
    mrseam: hex(b.mrSeam),
    mrsignerseam: hex(b.mrSignerSeam),
    seam_attributes: hex(b.seamAttributes),
    report_data: hex(b.reportData),
    td_attributes: { hex: attrs.hex, debug: attrs.debug, sept_ve_disable: attrs.septVeDisable, pks: attrs.pks, kl: attrs.keyLocker, perfmon: attrs.perfmon },
    xfam: hex(b.xfam),
    tee_tcb_svn: hex(b.teeTcbSvn),
    qe_isvsvn: quote.certification.qeReport.isvSvn,
  };
  if (b.teeTcbSvn2) claims.tee_tcb_svn2 = hex(b.teeTcbSvn2);
  if (b.mrServiceTd) claims.mrservicetd = hex(b.mrServiceTd);
  return claims;
}

/**
 * Verify a TDX quote end to end: parse (throws EvidenceFormatError on malformed bytes), quote and
 * QE signatures, PCK chain, collateral signatures and validity, CRLs, TCB status. Never stops at the
 * first failure: every check is reported. `result.ok` means every check passed; whether the TCB
 * status is acceptable is appraisal (appraise.ts).
 */
export async function verifyTdxQuote(quoteBytes: Uint8Array, options: VerifyTdxQuoteOptions = {}): Promise<TdxVerification> {
  const now = options.now ?? new Date();
  if (Number.isNaN(now.getTime())) throw new RangeError("now is not a valid date");
  const quote = parseTdxQuote(quoteBytes);
  const anchor = anchorFor(options.trustAnchorPem);
  const checks = new CheckList();
  checks.pass("tdx.quote.format", `DCAP v${quote.header.version} ${quote.body.kind} quote, ${quote.quoteLength} bytes`);
  const claims = claimsOf(quote);

  if (options.reportData !== undefined) {
    if (options.reportData.byteLength > 64) throw new RangeError("expected report data is longer than 64 bytes");
    const expected = Buffer.alloc(64);
    expected.set(options.reportData);
    const ok = timingSafeEqual(expected, quote.body.reportData);
    checks.add("tdx.report_data", ok, ok ? "REPORTDATA equals the expected value" : "REPORTDATA differs from the expected value");
  }

  const sig = verifyQuoteSignatures(quote, anchor, now, checks, options.chainCache);
  if (sig.pck) {
    claims.fmspc = hex(sig.pck.fmspc);
    claims.pcesvn = sig.pck.pceSvn;
    claims.sgx_type = sig.pck.sgxType;
  }

  let tcb: TcbEvaluation | undefined;
  const collateral = options.collateral;
  if (!collateral) {
    checks.fail("tdx.collateral", "no collateral supplied: TCB status unknown");
  } else {
    const docs = verifyCollateralDocuments(collateral, anchor, now, checks, options.chainCache);
    const requireCrls = options.requireCrls ?? true;
    if (collateral.rootCaCrl !== undefined || requireCrls) {
      // The root CRL covers the PCK intermediate and the TCB Signing certificate.
      const subjects = [sig.pckChain?.[1], docs.tcbSigningChain?.[0]].filter((c) => c !== undefined);
      await checkCrl(collateral.rootCaCrl, anchor.cert, subjects, now, checks, "tdx.crl.root");
    }
    if (collateral.pckCrl !== undefined || requireCrls) {
      const pckCa = sig.pckChain?.[1];
      await checkCrl(collateral.pckCrl, pckCa, sig.pckChain ? [sig.pckChain[0]!] : [], now, checks, "tdx.crl.pck");
    }
    if (docs.tcbInfo && docs.qeIdentity && sig.pck) {
      tcb = evaluateTcb(
        { tcbInfo: docs.tcbInfo.value, qeIdentity: docs.qeIdentity.value, pck: sig.pck, body: quote.body, qeReport: quote.certification.qeReport },
        checks,
      );
      claims.tcb_status = tcb.status;
      claims.tcb_evaluation_data_number = tcb.tcbEvaluationDataNumber;
      claims.advisory_ids = tcb.advisoryIds;
    } else {
      claims.tcb_status = NO_MATCHING_TCB_LEVEL;
      checks.fail("tdx.tcb.level", "TCB status not evaluated: collateral or PCK extensions unusable");
    }
  }
  const result = checks.result("tdx", claims);
  options.logger?.debug({ ok: result.ok, failures: checks.failures.map((c) => c.name), tcb_status: claims.tcb_status }, "tdx quote verified");
  return tcb ? { result, quote, tcb } : { result, quote };
}

