export { parseHclReport, HCL_SNP_REPORT_OFFSET, HCL_IGVM_OFFSET, HCL_VAR_DATA_OFFSET, HCL_AK_KID } from "./hcl.js";
export type { HclReport } from "./hcl.js";
export { decodeAzSnpVtpmEvidence } from "./evidence.js";
export type { AzSnpVtpmEvidence } from "./evidence.js";
export { verifyAzSnpVtpmEvidence } from "./verify.js";
export type { AzSnpVtpmClaims, AzSnpVtpmVerifyOptions } from "./verify.js";
export { AzSnpVtpmVerifier } from "./verifier.js";
export type { AzSnpVtpmVerifierOptions } from "./verifier.js";
