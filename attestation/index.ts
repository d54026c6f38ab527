// The attestation box's public entry for the other boxes: the attester and verifier seams, the
// TEE table (tees.ts, on top of protocol/tees.ts), the verifier registry, check results and
// errors. Its folders' own indexes (agent/, appraisal/, ear/, attesters/) are public too; a file
// inside a folder is not.
export * from "./attester.js";
export * from "./verifier.js";
export * from "./registry.js";
export * from "./tees.js";
export * from "./result.js";
export * from "./errors.js";
