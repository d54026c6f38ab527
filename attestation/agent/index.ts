export { KbsClient, KBS_PROTOCOL_VERSION, resourcePath, type KbsClientOptions, type Attestation } from "./kbs-client.js";
export { generateAttestedKeys, type AttestedKeys } from "./keys.js";
export { KbsError, type KbsErrorCode } from "./errors.js";
export { AttestationAgent, PlaintextDigestError } from "./unseal.js";
