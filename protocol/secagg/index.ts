export * from "./errors.js";
export * from "./params.js";
export * from "./quantize.js";
export * from "./messages.js";
export { SecAggParticipant } from "./participant.js";
export { SecAggAggregator, type SecAggResult } from "./aggregator.js";
