export { KbsClient, KBS_PROTOCOL_VERSION, resourcePath, type KbsClientOptions, type Attestation } from "./kbs-client.js";
export { generateAttestedKeys, type AttestedKeys } from "./keys.js";
export { KbsClientError, type KbsClientErrorCode } from "./errors.js";
export { AttestationAgent, PlaintextDigestError, heldTokenOf } from "./unseal.js";
