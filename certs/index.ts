export { initCa, loadCa, randomSerial, CA_CERT_FILE, CA_KEY_FILE, CRL_FILE, REVOKED_FILE, DEFAULT_CA_LIFETIME_DAYS, type InitCaOptions, type CaFiles, type LoadedCa } from "./ca.js";
export { issue, serverSans, DEFAULT_LEAF_LIFETIME_DAYS, DEFAULT_SERVER_SANS, type IssueOptions, type IssuedFiles } from "./issue.js";
export { readIdentity, parseCertificate, verifyCertificate, type CertificateIdentity, type CertificateVerification, type VerifyCertificateOptions } from "./identity.js";
export { CERT_KINDS, KIND_PROFILES, MANAGER_IDENTITY, OPERATOR_CN_PREFIX, isCertKind, checkName, type CertKind } from "./kinds.js";
export { CertError, type CertErrorCode } from "./errors.js";
export { revoke, writeCrl } from "./crl.js";
export { writeFileAtomic, KEY_MODE, CERT_MODE } from "./files.js";
