export { TpmAttester, DEFAULT_AK_HANDLE, DEFAULT_EK_HANDLE, DEFAULT_EK_CERT_NV_INDEX } from "./tpm.js";
export type { TpmAttesterOptions, AkInfo, AkKind } from "./tpm.js";
export { TpmToolError, validateTcti } from "./tpm2-tools.js";
export { SampleAttester } from "./sample.js";
