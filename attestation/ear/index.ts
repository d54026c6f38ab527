export * from "./trust-vector.js";
export * from "./claims.js";
export * from "./sign.js";
export * from "./verify.js";
