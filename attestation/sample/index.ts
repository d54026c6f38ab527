export { SampleVerifier, verifySampleEvidence } from "./verify.js";
export type { SampleClaims } from "./verify.js";
export { decodeSampleEvidence, SampleEvidenceJson, MAX_SAMPLE_REPORT_DATA } from "./evidence.js";
