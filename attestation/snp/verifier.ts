import type { Logger } from "pino";
import type { VerificationResult } from "../result.js";
import type { Verifier, VerifyExpectations } from "../verifier.js";
import { ChainCache, type AmdRoots } from "./certs.js";
import { parseAmdCrl, type AmdCrl } from "./crl.js";
import { SnpConfigError } from "./config.js";
import { messageOf } from "../../lib/errors.js";
import { decodeSnpEvidence } from "./evidence.js";
import { parseSnpReport, type SnpReport } from "./report.js";
import { verifyParsedSnpReport, type CertInput, type SnpClaims, type SnpVerifyOptions } from "./verify.js";

export interface SnpVerifierOptions {
  /** Pinned roots; defaults to attestation/roots/amd. */
  roots?: AmdRoots;
  /** Certificate signature cache (bounded); by default each verifier has its own of 256 entries. */
  cache?: ChainCache;
  /**
   * Where to find a VEK when the evidence carries none (e.g. an offline store of KDS downloads).
   * Unset: evidence without a certificate fails `snp.vek`.
   */
  findVek?: (report: SnpReport) => Promise<CertInput | undefined>;
  /**
   * AMD KDS CRLs (DER or PEM) of the ARKs, e.g. downloads of `/vcek/v1/<product>/crl`. Parsed at
   * construction (a bad one is a start-up error); checked on every verification. Unset: no check.
   */
  crls?: readonly (Uint8Array | string)[];
  logger?: Logger;
}

/**
 * The `Verifier` for tee "snp": Trustee's SNP `primary_evidence` (attestation_report fields +
 * optional cert_chain) → parse → verify (chain to the pinned ARK, signature, TCB, chip). Whether
 * the guest is acceptable (debug, VMPL, TCB minimums) is the appraisal stage's (snp/appraise.ts
 * through appraisal/tee-policy.ts).
 */
export class SnpVerifier implements Verifier {
  readonly tee = "snp" as const;
  private readonly options: SnpVerifierOptions;
  private readonly crls: AmdCrl[];

  constructor(options: SnpVerifierOptions = {}) {
    this.options = { ...options, cache: options.cache ?? new ChainCache(256) };
    if (options.crls !== undefined && (!Array.isArray(options.crls) || options.crls.length > 16)) {
      throw new SnpConfigError("snp crls must be a list of at most 16 CRLs");
    }
    this.crls = (options.crls ?? []).map((c, i) => {
      try {
        return parseAmdCrl(c, `snp CRL ${i + 1}`);
      } catch (err) {
        throw new SnpConfigError(messageOf(err));
      }
    });
  }

  async verify(evidence: unknown, expectations: VerifyExpectations): Promise<VerificationResult<SnpClaims>> {
    const decoded = decodeSnpEvidence(evidence);
    const report = parseSnpReport(decoded.report);
    const { certs } = decoded;
    const opts: SnpVerifyOptions = {};
    const vek = certs.vcek ?? certs.vlek ?? (await this.options.findVek?.(report));
    if (vek !== undefined) opts.vek = vek;
    const chain = [certs.ask, certs.ark].filter((c): c is Buffer => c !== undefined);
    if (chain.length > 0) opts.chains = chain;
    if (this.options.roots) opts.roots = this.options.roots;
    if (this.options.cache) opts.cache = this.options.cache;
    if (this.options.logger) opts.logger = this.options.logger;
    if (this.crls.length > 0) opts.crls = this.crls;
    if (expectations.now) opts.now = expectations.now;
    if (expectations.reportData) opts.reportData = expectations.reportData;
    return verifyParsedSnpReport(report, opts);
  }
}
