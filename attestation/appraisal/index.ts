export * from "./appraise.js";
export * from "./tee-appraisal.js";
export * from "./tee-policy.js";
export * from "./policy.js";
export * from "./reference-values.js";
export * from "./json-pointer.js";
