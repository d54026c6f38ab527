export {
  parseSnpReport,
  decodePolicy,
  decodePlatformInfo,
  decodeSignerInfo,
  decodeTcb,
  encodeTcb,
  productFromCpuid,
  tcbAtLeast,
  formatTcb,
  SNP_REPORT_SIZE,
  SNP_SIGNED_LENGTH,
  SNP_SIGNATURE_OFFSET,
  SUPPORTED_REPORT_VERSIONS,
} from "./report.js";
export type { SnpReport, SnpPolicy, SnpPlatformInfo, SnpSignerInfo, SnpTcb, TcbLayout, SnpCpuid, SigningKeyKind } from "./report.js";
export { parseVek, productLine, bundledAmdRoots, verifyAmdChain, ChainCache, AMD_OID } from "./certs.js";
export type { VekInfo, VekKind, VekSpls, AmdRoots, AmdRootSet, AmdChainInput } from "./certs.js";
export { verifySnpReport, verifyParsedSnpReport, verifyReportSignature, snpClaims } from "./verify.js";
export type { SnpVerifyOptions, SnpClaims, SnpTcbClaim, CertInput } from "./verify.js";
export { appraiseSnpClaims } from "./appraise.js";
export type { SnpAppraisalPolicy, SnpAppraisal } from "./appraise.js";
export { decodeSnpEvidence, readSnpEvidenceFile, encodeSnpReportJson, encodeSnpEvidence, snpReportToJson, parseCertTable, buildCertTable, CERT_TABLE_GUIDS, SnpEvidenceJson } from "./evidence.js";
export type { DecodedSnpEvidence, SnpEvidenceCerts } from "./evidence.js";
export { SnpVerifier } from "./verifier.js";
export type { SnpVerifierOptions } from "./verifier.js";
export { readCertificates, readCertificate, certFingerprint } from "./x509.js";
export { validateSnpPolicy, SnpAppraisalPolicySchema, SnpConfigError } from "./config.js";
